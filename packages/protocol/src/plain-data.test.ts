import { describe, expect, it } from "vitest";
import { MAX_NESTING_DEPTH, isBoundedPlainData, isPlainObject } from "./plain-data.js";

function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describe("plain data", () => {
  it("recognises plain objects only", () => {
    expect(isPlainObject({})).toBe(true);
    expect(isPlainObject(Object.create(null))).toBe(true);
    expect(isPlainObject([])).toBe(false);
    expect(isPlainObject(new Date(0))).toBe(false);
    expect(isPlainObject(new Uint8Array(1))).toBe(false);
    expect(isPlainObject(null)).toBe(false);
  });

  it("accepts JSON data up to the depth limit", () => {
    expect(MAX_NESTING_DEPTH).toBe(64);
    expect(isBoundedPlainData([1, "a", true, null, { b: [1.5, { c: "d" }] }], 64)).toBe(true);
    expect(isBoundedPlainData(nestedArrays(64), 64)).toBe(true);
    expect(isBoundedPlainData(nestedArrays(65), 64)).toBe(false);
    expect(isBoundedPlainData({ a: { b: {} } }, 3)).toBe(true);
    expect(isBoundedPlainData({ a: { b: {} } }, 2)).toBe(false);
  });

  it("survives hostile nesting without recursion", () => {
    expect(isBoundedPlainData(nestedArrays(100_000), 64)).toBe(false);
  });

  it("rejects what JSON cannot carry", () => {
    expect(isBoundedPlainData([new Uint8Array(1)], 64)).toBe(false);
    expect(isBoundedPlainData([new Date(0)], 64)).toBe(false);
    expect(isBoundedPlainData([Number.NaN], 64)).toBe(false);
    expect(isBoundedPlainData({ a: Number.POSITIVE_INFINITY }, 64)).toBe(false);
    expect(isBoundedPlainData([undefined], 64)).toBe(false);
    expect(isBoundedPlainData([1n], 64)).toBe(false);
  });
});

import { describe, expect, it } from "vitest";
import { fc } from "@tidings/fuzzing";
import { checkJsonData, type JsonDataFault } from "./text.js";

/** The walk before objects of scalars got their own path: every value on a stack, popped last first. */
function referenceFault(root: unknown, maxDepth: number): JsonDataFault | null {
  const pending: unknown[] = [root];
  const depths: number[] = [1];
  let protoKey = false;
  while (pending.length > 0) {
    const value = pending.pop();
    const depth = depths.pop()!;
    switch (typeof value) {
      case "string":
        if (value.includes("\u0000")) return "nul";
        if (!value.isWellFormed()) return "surrogate";
        continue;
      case "boolean":
        continue;
      case "number":
        if (!Number.isFinite(value)) return "type";
        continue;
      case "object":
        break;
      default:
        return "type";
    }
    if (value === null) continue;
    if (depth > maxDepth) return "depth";
    if (Array.isArray(value)) {
      for (const child of value) {
        pending.push(child);
        depths.push(depth + 1);
      }
    } else if (Object.getPrototypeOf(value) === Object.prototype || Object.getPrototypeOf(value) === null) {
      const record = value as Record<string, unknown>;
      if (!protoKey && Object.prototype.hasOwnProperty.call(record, "__proto__")) protoKey = true;
      for (const key in record) {
        if (key.includes("\u0000")) return "nul";
        if (!key.isWellFormed()) return "surrogate";
        pending.push(record[key]);
        depths.push(depth + 1);
      }
    } else return "type";
  }
  return protoKey ? "proto" : null;
}

/** Scalars of every kind checkJsonData tells apart, faulty ones included. */
const scalar = fc.oneof(
  fc.string(),
  fc.constantFrom("\u0000", "a\u0000b", "\ud800", "x\udfff", Number.NaN, Number.POSITIVE_INFINITY, undefined, 1n, () => 1, Symbol("s")),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
);
const key = fc.oneof(fc.string(), fc.constantFrom("__proto__", "k\u0000", "k\ud800", "toJSON"));

/** An object from JSON.parse (so `__proto__` is an own key), members in the generated order. */
function objectOf(entries: [string, unknown][]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

describe("checkJsonData: a body whose members are all scalars is checked without the walk's stacks", () => {
  it("gives the walk's answer for objects of scalars (faulty ones, NUL and surrogate keys, __proto__), nested ones and any JSON", () => {
    const flat = fc.array(fc.tuple(key, scalar), { maxLength: 12 }).map(objectOf);
    const nested = fc.array(fc.tuple(key, fc.oneof(scalar, flat, fc.array(scalar, { maxLength: 3 }))), { maxLength: 6 }).map(objectOf);
    fc.assert(
      fc.property(fc.oneof(flat, nested, fc.jsonValue(), scalar), fc.integer({ min: 0, max: 3 }), (value, maxDepth) => {
        expect(checkJsonData(value, maxDepth)).toBe(referenceFault(value, maxDepth));
      }),
      { numRuns: 3000 },
    );
  });

  it("reports the fault the walk met first: NUL keys before values, then the last faulty value", () => {
    expect(
      checkJsonData(
        objectOf([
          ["a", Number.NaN],
          ["b", "x\u0000"],
        ]),
        64,
      ),
    ).toBe("nul");
    expect(
      checkJsonData(
        objectOf([
          ["a", "x\u0000"],
          ["b", Number.NaN],
        ]),
        64,
      ),
    ).toBe("type");
    expect(
      checkJsonData(
        objectOf([
          ["a", Number.NaN],
          ["b\u0000", 1],
        ]),
        64,
      ),
    ).toBe("nul");
    expect(
      checkJsonData(
        objectOf([
          ["__proto__", 1],
          ["b", 2],
        ]),
        64,
      ),
    ).toBe("proto");
    expect(
      checkJsonData(
        objectOf([
          ["__proto__", 1],
          ["b", undefined],
        ]),
        64,
      ),
    ).toBe("type");
    expect(checkJsonData({ a: 1 }, 0)).toBe("depth");
  });
});

import { describe, expect, it } from "vitest";
import { hex, toHex } from "./test-support.js";
import { encodeVarint, readVarint, varintSize, writeVarint } from "./varint.js";

describe("varint length prefix (docs/protocol.md §4.3)", () => {
  it.each([
    ["35", 53],
    ["C8 01", 200],
    ["80 29", 5248],
    ["00", 0],
    ["7F", 127],
    ["80 01", 128],
    ["80 80 04", 65536],
    ["FF FF FF FF 07", 0x7fffffff],
  ])("%s = %i", (bytes, value) => {
    expect(readVarint(hex(bytes), 0)).toEqual({ status: "ok", value, size: hex(bytes).length });
    expect(toHex(encodeVarint(value))).toBe(bytes);
    expect(varintSize(value)).toBe(hex(bytes).length);
  });

  it("reads at an offset and ignores the bytes after the prefix", () => {
    expect(readVarint(hex("AA C8 01 FF"), 1)).toEqual({ status: "ok", value: 200, size: 2 });
  });

  it("accepts non-minimal encodings, as ASP.NET does", () => {
    expect(readVarint(hex("81 00"), 0)).toEqual({ status: "ok", value: 1, size: 2 });
  });

  it("reports an unfinished prefix as incomplete", () => {
    expect(readVarint(hex(""), 0)).toEqual({ status: "incomplete" });
    expect(readVarint(hex("80"), 0)).toEqual({ status: "incomplete" });
    expect(readVarint(hex("FF FF FF FF"), 0)).toEqual({ status: "incomplete" });
  });

  it("rejects a fifth byte above 07", () => {
    expect(readVarint(hex("FF FF FF FF 08"), 0)).toEqual({ status: "invalid" });
    expect(readVarint(hex("80 80 80 80 80"), 0)).toEqual({ status: "invalid" });
  });

  it("writes at an offset and returns the size", () => {
    const target = new Uint8Array(4);
    expect(writeVarint(target, 1, 5248)).toBe(2);
    expect(toHex(target)).toBe("00 80 29 00");
  });

  it("refuses values it may not write", () => {
    expect(() => encodeVarint(-1)).toThrow(RangeError);
    expect(() => encodeVarint(0x80000000)).toThrow(RangeError);
    expect(() => encodeVarint(1.5)).toThrow(RangeError);
  });
});

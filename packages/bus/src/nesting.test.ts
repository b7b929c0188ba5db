import { encode as encodeMsgpack } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import { decodeIngestBody, encodeIngestBody, MAX_INGEST_NESTING } from "./ingest-codec.js";
import { nestedWithin } from "./nesting.js";

const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v));
const msgpack = (v: unknown) => encodeMsgpack(v);

/** Levels of arrays and maps, an empty one counting as one. */
function depthOf(v: unknown): number {
  if (v === null || typeof v !== "object" || v instanceof Uint8Array || v instanceof Date) return 0;
  const children = Array.isArray(v) ? v : Object.values(v);
  return 1 + Math.max(0, ...children.map(depthOf));
}

function nest(depth: number, inner: unknown = []): unknown {
  let v = inner;
  for (let i = depthOf(inner); i < depth; i++) v = [v];
  return v;
}

/** Every MessagePack format the encoder writes, and brackets, quotes and escapes inside JSON strings. */
const mixed = {
  strings: ["", "x", "[[[{{{", '"]]]\\"', "\\", "s".repeat(40), "m".repeat(300), "l".repeat(70_000)],
  bins: [new Uint8Array(10), new Uint8Array(300), new Uint8Array(70_000)],
  ints: [0, 1, -1, 127, 128, -33, 200, -200, 70_000, -70_000, 2 ** 40, -(2 ** 40)],
  floats: [1.5, 1e300, -0.25],
  others: [null, true, false, new Date(0), new Date(2 ** 40)],
  array16: Array.from({ length: 20 }, (_, i) => i),
  array32: new Array<number>(70_000).fill(7),
  map16: Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`k${i}`, [i]])),
  empty: [[], {}],
};

describe("nestedWithin", () => {
  it("counts the nesting of arrays and maps exactly, in JSON and MessagePack, whatever the values between them", () => {
    for (const value of [nest(0, 1), nest(1), nest(5), nest(66), nest(67), nest(5, mixed), nest(66, { a: mixed }), [mixed, nest(9)]]) {
      const depth = depthOf(value);
      for (const [format, bytes] of [
        ["msgpack", msgpack(value)],
        ["json", json(value)],
      ] as const) {
        expect(nestedWithin(bytes, format, depth), `${format} depth ${depth}`).toBe(true);
        if (depth > 0) expect(nestedWithin(bytes, format, depth - 1), `${format} depth ${depth} within ${depth - 1}`).toBe(false);
      }
    }
  });

  it("refuses millions of levels in one pass, and leaves malformed input to the decoder", () => {
    const deep = new Uint8Array(4_000_001).fill(0x91);
    deep[deep.length - 1] = 0xc0;
    const started = performance.now();
    expect(nestedWithin(deep, "msgpack", MAX_INGEST_NESTING)).toBe(false);
    expect(nestedWithin(new TextEncoder().encode("[".repeat(2_000_000) + "]".repeat(2_000_000)), "json", MAX_INGEST_NESTING)).toBe(false);
    expect(performance.now() - started).toBeLessThan(1000);
    for (const bytes of [
      Uint8Array.of(0xc1),
      Uint8Array.of(0xdd, 0xff, 0xff),
      Uint8Array.of(0xdb, 0xff, 0xff, 0xff, 0xff, 0x61),
      Uint8Array.of(0x95),
    ])
      expect(nestedWithin(bytes, "msgpack", 1)).toBe(true);
    expect(nestedWithin(new TextEncoder().encode('["unterminated'), "json", 1)).toBe(true);
  });
});

describe("decodeIngestBody and nesting", () => {
  it("refuses a body over 64 KiB nested deeper than a batch of valid envelopes before decoding it; decodes a large valid one", () => {
    for (const format of ["json", "msgpack"] as const) {
      const { data, headers } = encodeIngestBody(nest(MAX_INGEST_NESTING + 1, "p".repeat(70_000)), format);
      expect(decodeIngestBody(data, headers)).toEqual({
        ok: false,
        format,
        error: `nested deeper than ${MAX_INGEST_NESTING} levels`,
        nesting: true,
      });
      const large = encodeIngestBody(nest(MAX_INGEST_NESTING, "p".repeat(70_000)), format);
      expect(decodeIngestBody(large.data, large.headers)).toMatchObject({ ok: true, format });
    }
  });
});

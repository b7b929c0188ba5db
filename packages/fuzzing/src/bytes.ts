import fc from "fast-check";

/** One edit of a byte string: the ways a careless or hostile peer corrupts a valid message. */
type Mutation =
  | { kind: "flip"; at: number; bit: number }
  | { kind: "set"; at: number; byte: number }
  | { kind: "insert"; at: number; bytes: Uint8Array }
  | { kind: "delete"; at: number; length: number }
  | { kind: "duplicate"; at: number; length: number }
  | { kind: "truncate"; at: number };

/** Bytes that mean something to the parsers: record separator, MessagePack markers, UTF-8 lead/continuation bytes. */
const SPECIAL_BYTES = [
  0x00, 0x1e, 0x22, 0x5b, 0x5d, 0x7b, 0x7d, 0x7f, 0x80, 0xbf, 0xc0, 0xc1, 0xc4, 0xd4, 0xdc, 0xdd, 0xde, 0xdf, 0xed, 0xef, 0xf4, 0xf8, 0xff,
];

const byte = fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...SPECIAL_BYTES));
const position = fc.nat({ max: 1 << 16 });

const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant("flip" as const), at: position, bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant("set" as const), at: position, byte }),
  fc.record({ kind: fc.constant("insert" as const), at: position, bytes: fc.uint8Array({ minLength: 1, maxLength: 8 }) }),
  fc.record({ kind: fc.constant("delete" as const), at: position, length: fc.integer({ min: 1, max: 8 }) }),
  fc.record({ kind: fc.constant("duplicate" as const), at: position, length: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant("truncate" as const), at: position }),
);

function apply(bytes: Uint8Array, m: Mutation): Uint8Array {
  if (bytes.length === 0) return m.kind === "insert" ? m.bytes : bytes;
  const at = m.at % (bytes.length + (m.kind === "insert" ? 1 : 0));
  switch (m.kind) {
    case "flip": {
      const out = bytes.slice();
      out[at] = (out[at] as number) ^ (1 << m.bit);
      return out;
    }
    case "set": {
      const out = bytes.slice();
      out[at] = m.byte;
      return out;
    }
    case "insert":
      return concatBytes(bytes.subarray(0, at), m.bytes, bytes.subarray(at));
    case "delete":
      return concatBytes(bytes.subarray(0, at), bytes.subarray(at + m.length));
    case "duplicate":
      return concatBytes(bytes.subarray(0, at + m.length), bytes.subarray(at));
    case "truncate":
      return bytes.subarray(0, at);
  }
}

/** `source` with 1–4 random edits (flipped bits, foreign bytes, deletions, duplications, truncation). */
export function mutated(source: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(source, fc.array(mutation, { minLength: 1, maxLength: 4 })).map(([bytes, edits]) => edits.reduce(apply, bytes));
}

/** `bytes` cut at random points into chunks (possibly empty ones), as a socket or HTTP body may split them. */
export function chunked(bytes: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array[]> {
  return bytes.chain((whole) =>
    fc.uniqueArray(fc.nat({ max: whole.length }), { maxLength: 6 }).map((cuts) => {
      const points = [0, ...cuts.sort((a, b) => a - b), whole.length];
      return points.slice(1).map((end, i) => whole.subarray(points[i], end));
    }),
  );
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/*
 * MessagePack frame length prefix (docs/protocol.md §4.3): unsigned, 7 bits per byte, least significant group first,
 * high bit set on every byte but the last, 1–5 bytes, value at most 2^31−1.
 */

export const MAX_VARINT_BYTES = 5;
export const MAX_VARINT_VALUE = 0x7fffffff;

export type VarintReadResult = { status: "ok"; value: number; size: number } | { status: "incomplete" } | { status: "invalid" };

const INCOMPLETE: VarintReadResult = Object.freeze({ status: "incomplete" });
const INVALID: VarintReadResult = Object.freeze({ status: "invalid" });

/**
 * Reads a prefix at `offset`. "incomplete": more bytes are needed (at most 4 are pending);
 * "invalid": a fifth byte above 0x07 (value over 2^31−1 or a sixth byte announced).
 * Non-minimal encodings (`81 00` = 1) are accepted, as ASP.NET does.
 */
export function readVarint(bytes: Uint8Array, offset: number): VarintReadResult {
  let value = 0;
  for (let i = 0; i < MAX_VARINT_BYTES; i++) {
    const position = offset + i;
    if (position >= bytes.length) return INCOMPLETE;
    const byte = bytes[position] as number;
    if (i === MAX_VARINT_BYTES - 1) {
      if (byte > 0x07) return INVALID;
      return { status: "ok", value: value + byte * 0x10000000, size: MAX_VARINT_BYTES };
    }
    // At most 28 bits accumulate here, so the bitwise OR stays a non-negative int32.
    value |= (byte & 0x7f) << (7 * i);
    if ((byte & 0x80) === 0) return { status: "ok", value, size: i + 1 };
  }
  return INVALID; // unreachable: the loop returns on its fifth byte
}

function checkValue(value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > MAX_VARINT_VALUE) {
    throw new RangeError(`varint value out of range: ${value}`);
  }
}

/** Number of bytes of the minimal encoding of `value`. */
export function varintSize(value: number): number {
  checkValue(value);
  let size = 1;
  while (value >= 0x80) {
    value = Math.floor(value / 0x80);
    size++;
  }
  return size;
}

/** Writes the minimal encoding of `value` at `offset`; returns the number of bytes written. */
export function writeVarint(target: Uint8Array, offset: number, value: number): number {
  checkValue(value);
  let position = offset;
  while (value >= 0x80) {
    target[position++] = (value & 0x7f) | 0x80;
    value = Math.floor(value / 0x80);
  }
  target[position++] = value;
  return position - offset;
}

export function encodeVarint(value: number): Uint8Array {
  const out = new Uint8Array(varintSize(value));
  writeVarint(out, 0, value);
  return out;
}

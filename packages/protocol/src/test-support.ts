/** Test helpers: bytes written as the spec writes them ("06 94 03 80"). */

export function hex(text: string): Uint8Array {
  const digits = text.replace(/\s+/g, "");
  if (digits.length % 2 !== 0 || /[^0-9a-fA-F]/.test(digits)) throw new Error(`bad hex: ${text}`);
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => Number.parseInt(pair, 16));
}

export function toHex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).toUpperCase().padStart(2, "0")).join(" ");
}

export function utf8(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** A JSON record: the text followed by the record separator. */
export function record(json: string): Uint8Array {
  return utf8(`${json}\u001e`);
}

/** Joins byte arrays (the fuzzing package's helper, so there is one). */
export { concatBytes as concat } from "@tidings/fuzzing";

export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

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

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

export function text(bytes: Uint8Array): string {
  return new TextDecoder().decode(bytes);
}

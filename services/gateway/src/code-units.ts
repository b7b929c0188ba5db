/*
 * Strings as a framed node message's header carries them, compared and hashed without decoding: the
 * UTF-16 code units one byte each (`wide` false: ASCII, or any units below 256) or two, little endian
 * (`wide` true). A string and its bytes hash the same, so a table keyed by strings can be probed with bytes.
 */

/**
 * A seeded 32-bit hash of the code units `bytes[start, end)`: FNV-1a over the units, then murmur3's
 * finaliser. The same as `hashString` of the string they encode. Signed (a small integer in V8, never
 * boxed as a heap number when passed or stored).
 */
export function hashUnits(seed: number, bytes: Uint8Array, start: number, end: number, wide: boolean): number {
  let h = seed ^ 0x811c9dc5;
  if (wide) for (let i = start; i < end; i += 2) h = Math.imul(h ^ (bytes[i]! | (bytes[i + 1]! << 8)), 0x01000193);
  else for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i]!, 0x01000193);
  return finish(h);
}

/** `hashUnits` of a string. */
export function hashString(seed: number, s: string): number {
  let h = seed ^ 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  return finish(h);
}

function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** True when `s` is the string the code units `bytes[start, end)` encode. */
export function unitsEqual(s: string, bytes: Uint8Array, start: number, end: number, wide: boolean): boolean {
  if (wide) {
    if (2 * s.length !== end - start) return false;
    for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== (bytes[start + 2 * i]! | (bytes[start + 2 * i + 1]! << 8))) return false;
    return true;
  }
  if (s.length !== end - start) return false;
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) !== bytes[start + i]) return false;
  return true;
}

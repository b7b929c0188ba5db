// Internal string checks shared by envelope and hub-argument validation. Not exported from the package.

/**
 * True when `s` has between 1 and `max` characters, counted in Unicode code points (an emoji is one
 * character, not two UTF-16 units). Strings of at most `max` UTF-16 units never need the slow count.
 */
export function hasLength(s: string, max: number): boolean {
  const units = s.length;
  if (units === 0) return false;
  if (units <= max) return true;
  if (units > max * 2) return false;
  let count = 0;
  for (let i = 0; i < units; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < units) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    if (++count > max) return false;
  }
  return true;
}

/** True when `s` contains a C0 control character or DEL (they cannot travel in a NATS header). */
export function hasControlChar(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/** A JSON object: not null, not an array, not a class instance such as a Date or a Uint8Array. */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

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

/** True when `s` contains U+0000, which PostgreSQL refuses in text and jsonb. */
export function hasNul(s: string): boolean {
  return s.includes("\u0000");
}

/** Why a value is not deliverable JSON data, or null when it is (see `checkJsonData`). */
export type JsonDataFault = "depth" | "nul" | "surrogate" | "type" | "proto";

/**
 * Checks that `root` is JSON data that every store and protocol can carry: strings, finite numbers,
 * booleans, null, arrays and plain objects, nested at most `maxDepth` levels (`root` being level 1),
 * with no U+0000 and no unpaired surrogate in any string or object key (PostgreSQL's jsonb refuses both).
 * Iterative, so hostile nesting cannot overflow the stack.
 * "proto" (an object with an own "__proto__" key, which JSON.parse creates) only when nothing else is wrong.
 */
export function checkJsonData(root: unknown, maxDepth: number): JsonDataFault | null {
  const pending: unknown[] = [root];
  const depths: number[] = [1];
  let protoKey = false;
  while (pending.length > 0) {
    const value = pending.pop();
    const depth = depths.pop()!;
    switch (typeof value) {
      case "string":
        if (hasNul(value)) return "nul";
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
    } else if (isJsonObject(value)) {
      if (!protoKey && Object.prototype.hasOwnProperty.call(value, "__proto__")) protoKey = true;
      for (const key in value) {
        if (hasNul(key)) return "nul";
        if (!key.isWellFormed()) return "surrogate";
        pending.push(value[key]);
        depths.push(depth + 1);
      }
    } else return "type";
  }
  return protoKey ? "proto" : null;
}

/** A JSON object: not null, not an array, not a class instance such as a Date or a Uint8Array. */
export function isJsonObject(v: unknown): v is Record<string, unknown> {
  if (typeof v !== "object" || v === null) return false;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

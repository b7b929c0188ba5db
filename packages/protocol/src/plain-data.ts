/**
 * Deepest nesting of arrays and objects accepted in an inbound message, the message itself being
 * level 1 (System.Text.Json's default, which ASP.NET's JSON hub protocol applies). It keeps decoded
 * values safe for recursive consumers: JSON.stringify overflows the stack on a 32 KiB message of
 * nested brackets.
 */
export const MAX_NESTING_DEPTH = 64;

/** A map as both decoders produce it: an object whose prototype is Object.prototype (or null). */
export function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (typeof value !== "object" || value === null) return false;
  const prototype: unknown = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/**
 * true when `root` is JSON data — string, finite number, boolean, null, arrays and plain objects —
 * nested at most `maxDepth` levels. Iterative, so hostile nesting cannot overflow the stack.
 * Rejects what MessagePack can carry but JSON cannot (bin, extension values, NaN, ±Infinity), so
 * the gateway sees the same data model whichever protocol a client uses.
 */
export function isBoundedPlainData(root: unknown, maxDepth: number): boolean {
  const pending: unknown[] = [root];
  const depths: number[] = [1];
  while (pending.length > 0) {
    const value = pending.pop();
    const depth = depths.pop() as number;
    switch (typeof value) {
      case "string":
      case "boolean":
        continue;
      case "number":
        if (!Number.isFinite(value)) return false;
        continue;
      case "object":
        break;
      default:
        return false;
    }
    if (value === null) continue;
    if (depth > maxDepth) return false;
    let children: unknown[];
    if (Array.isArray(value)) children = value;
    else if (isPlainObject(value)) children = Object.values(value);
    else return false;
    for (const child of children) {
      if (typeof child === "string" || typeof child === "boolean" || child === null) continue;
      pending.push(child);
      depths.push(depth + 1);
    }
  }
  return true;
}

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
  const flat = flatObjectFault(root, maxDepth);
  return flat !== undefined ? flat : walkJsonData(root, maxDepth);
}

/**
 * `checkJsonData` of an object whose members are all scalars (the common body) without the walk's two
 * stacks, which were most of a small body's check and its garbage. The same answer as the walk: a key
 * with U+0000 or an unpaired surrogate first, then the faulty value the walk meets first (it pops members last first: the last
 * faulty one). Undefined when `root` is not such an object; the walk then reads its members again.
 */
function flatObjectFault(root: unknown, maxDepth: number): JsonDataFault | null | undefined {
  if (maxDepth < 1 || !isJsonObject(root)) return undefined;
  let fault: JsonDataFault | null = null;
  for (const key in root) {
    if (hasNul(key)) return "nul";
    if (!key.isWellFormed()) return "surrogate";
    const valueFault = scalarFault(root[key]);
    if (valueFault === undefined) return undefined;
    if (valueFault !== null) fault = valueFault;
  }
  if (fault !== null) return fault;
  return Object.prototype.hasOwnProperty.call(root, "__proto__") ? "proto" : null;
}

/** What is wrong with a scalar, null when nothing is; undefined for an array or object (not a scalar). */
function scalarFault(value: unknown): JsonDataFault | null | undefined {
  switch (typeof value) {
    case "string":
      return hasNul(value) ? "nul" : value.isWellFormed() ? null : "surrogate";
    case "boolean":
      return null;
    case "number":
      return Number.isFinite(value) ? null : "type";
    case "object":
      return value === null ? null : undefined;
    default:
      return "type";
  }
}

function walkJsonData(root: unknown, maxDepth: number): JsonDataFault | null {
  const pending: unknown[] = [root];
  const depths: number[] = [1];
  let protoKey = false;
  while (pending.length > 0) {
    const value = pending.pop();
    const depth = depths.pop()!;
    const fault = scalarFault(value);
    if (fault !== undefined) {
      if (fault !== null) return fault;
      continue;
    }
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

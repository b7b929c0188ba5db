/** UTF-8 JSON helpers shared by the codecs of cross-node messages. */
import type { Notification } from "./envelope.js";

// Strict: invalid UTF-8 is refused, not replaced, and a byte-order mark is not JSON (the gateway passes JSON bytes on to clients).
const decoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

export function encodeJson(value: unknown): Uint8Array {
  return utf8(JSON.stringify(value));
}

/** Bytes of one slab; a result that may need more than an eighth of it gets its own buffer. */
const SLAB_BYTES = 64 * 1024;
/** Most bytes a result written into the slab may need. */
export const SLAB_RESULT_BYTES = SLAB_BYTES / 8;

/**
 * Small results (node messages and store requests: a router writes several for every notification it
 * routes) are written in place into one 64 KiB slab and handed out as views of it: Buffer.from's and
 * Buffer.allocUnsafe's 8 KiB pool allocated a new ArrayBuffer every few dozen of them. A view is never
 * reused or mutated; a slab is freed once none of its views is referenced.
 */
class Slab {
  buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
  #used = 0;

  /** Room for up to `most` (at most SLAB_RESULT_BYTES) bytes in `buf` (a fresh slab when they do not fit); returns where they start. */
  reserve(most: number): number {
    if (SLAB_BYTES - this.#used < most) {
      this.buf = Buffer.allocUnsafeSlow(SLAB_BYTES);
      this.#used = 0;
    }
    return this.#used;
  }

  /** The bytes written from `start` (the last `reserve`) to `end`, handed out for good. */
  take(start: number, end: number): Uint8Array {
    this.#used = end;
    return new Uint8Array(this.buf.buffer, start, end - start);
  }
}
export const slab = new Slab();

/**
 * True when JSON writes `s` as its characters in quotes: printable ASCII other than `"` and `\`. A loop,
 * not a RegExp: it runs for several strings of every notification a node encodes.
 */
export function isPlainJsonString(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  const most = text.length * 3;
  if (most > SLAB_RESULT_BYTES) {
    const bytes = Buffer.from(text, "utf8");
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  const start = slab.reserve(most);
  return slab.take(start, start + slab.buf.write(text, start, "utf8"));
}

/**
 * JSON text of the notifications encoded into a store save request, until a node message is encoded
 * from the same notification object: the router saves a notification and then publishes it to its
 * owning nodes, and both carry the same JSON, so it is written once. Validated notifications are never
 * mutated. The last REMEMBERED texts are kept in a ring of fixed arrays, each taken out when read, and
 * looked up by identity from the slot after the last one read: a WeakMap or Map cost more than the second `JSON.stringify` it
 * saved (their tables, promoted to the old generation and then replaced, keep every young notification
 * they held alive through young-generation collections).
 */
const REMEMBERED = 512;
const rememberedFor: (Notification | undefined)[] = new Array<Notification | undefined>(REMEMBERED).fill(undefined);
const rememberedText: (string | undefined)[] = new Array<string | undefined>(REMEMBERED).fill(undefined);
/** Slot of the next text. */
let rememberNext = 0;
/** Texts remembered and not read yet. */
let rememberedCount = 0;
/** Slot after the last text read: saves are answered and routed in the order they were written, so the next text read is usually there. */
let readNext = 0;

/** `JSON.stringify(n)`, remembered for the next `notificationJson(n)`. */
export function rememberNotificationJson(n: Notification): string {
  const text = JSON.stringify(n);
  if (rememberedFor[rememberNext] === undefined) rememberedCount++;
  rememberedFor[rememberNext] = n;
  rememberedText[rememberNext] = text;
  rememberNext = (rememberNext + 1) % REMEMBERED;
  return text;
}

/** `JSON.stringify(n)`, or (once) the text a store request wrote for this notification object. */
export function notificationJson(n: Notification): string {
  // Only persisted notifications are saved: a live one is not looked for.
  if (!n.metadata.isPersisted) return JSON.stringify(n);
  // From the slot after the last one read, and no further than the texts not read yet.
  let left = rememberedCount;
  for (let k = 0; k < REMEMBERED && left > 0; k++) {
    const i = (readNext + k) % REMEMBERED;
    const held = rememberedFor[i];
    if (held === undefined) continue;
    if (held === n) {
      const text = rememberedText[i]!;
      rememberedFor[i] = undefined;
      rememberedText[i] = undefined;
      rememberedCount--;
      readNext = (i + 1) % REMEMBERED;
      return text;
    }
    left--;
  }
  return JSON.stringify(n);
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Parses UTF-8 JSON that must be an object; throws `TypeError(notJson)` or `TypeError(notObject)` otherwise. */
export function parseJsonObject(data: Uint8Array, notJson: string, notObject: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(decoder.decode(data));
  } catch (err) {
    throw new TypeError(notJson, { cause: err });
  }
  if (!isObject(value)) throw new TypeError(notObject);
  return value;
}

/** UTF-8 JSON helpers shared by the codecs of cross-node messages. */
import type { Notification } from "./envelope.js";

const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return utf8(JSON.stringify(value));
}

/** UTF-8 bytes of `text`. */
export function utf8(text: string): Uint8Array {
  // Buffer.from takes small results from Node's shared pool instead of allocating an ArrayBuffer per
  // message as TextEncoder does (a router encodes every notification it routes). The bytes are never mutated.
  const bytes = Buffer.from(text, "utf8");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/**
 * JSON text of the notifications encoded into a store save request, while each notification object
 * lives: the router saves a notification and then publishes it to its owning nodes, and both carry
 * the same JSON, so it is written once. Validated notifications are never mutated.
 */
const notificationTexts = new WeakMap<Notification, string>();

/** `JSON.stringify(n)`, remembered for `notificationJson`. */
export function rememberNotificationJson(n: Notification): string {
  const text = JSON.stringify(n);
  notificationTexts.set(n, text);
  return text;
}

/** `JSON.stringify(n)`, or the text a store request already wrote for this notification object. */
export function notificationJson(n: Notification): string {
  return notificationTexts.get(n) ?? JSON.stringify(n);
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

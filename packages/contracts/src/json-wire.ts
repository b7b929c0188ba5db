/** UTF-8 JSON helpers shared by the codecs of cross-node messages. */

const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  // Buffer.from takes small results from Node's shared pool instead of allocating an ArrayBuffer per
  // message as TextEncoder does (a router encodes every notification it routes). The bytes are never mutated.
  const bytes = Buffer.from(JSON.stringify(value), "utf8");
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
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

/** UTF-8 JSON helpers shared by the codecs of cross-node messages. */

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export function encodeJson(value: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(value));
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

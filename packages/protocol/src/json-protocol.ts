import { ByteBuffer } from "./byte-buffer.js";
import { checkMaxMessageBytes } from "./limits.js";
import {
  INVALID_MESSAGE,
  cancelInvocation,
  close,
  fail,
  invocation,
  isInteger,
  ping,
  readHeaders,
  readOptionalString,
  requireInvocationId,
  sequenceNumbered,
  streamInvocation,
  streamItem,
  unknownMessage,
} from "./message-fields.js";
import { MessageType, RECORD_SEPARATOR } from "./messages.js";
import type { CompletionMessage, DecodeError, DecodeResult, FrameDecoder, HubMessage, HubProtocol, ServerMessage } from "./messages.js";
import { MAX_NESTING_DEPTH, isBoundedPlainData, isPlainObject } from "./plain-data.js";

const SEPARATOR = "\u001e";
const textEncoder = new TextEncoder();
// fatal: invalid UTF-8 is "Invalid JSON" (docs/protocol.md §6), not silently replaced. ignoreBOM keeps a BOM in the
// text, so JSON.parse rejects it instead of the decoder hiding it.
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `{"type":6}␞` — the keep-alive frame; shared, never mutate. */
export const PING_JSON: Uint8Array = textEncoder.encode(`{"type":6}${SEPARATOR}`);

function frame(json: string): Uint8Array {
  return textEncoder.encode(json + SEPARATOR);
}

/*
 * Output rules (docs/protocol.md §4.6): `type` is the first key; no null or empty `invocationId`; `error` only when a
 * non-empty string; `allowReconnect` only when true; no `headers`. JSON.stringify escapes every
 * control character, so a record never contains a raw 0x1E or line feed.
 */
function encodeJsonMessage(message: ServerMessage): Uint8Array {
  switch (message.type) {
    case MessageType.Invocation:
      return frame(JSON.stringify({ type: 1, target: message.target, arguments: message.arguments }));
    case MessageType.Completion:
      switch (message.kind) {
        case "void":
          return frame(JSON.stringify({ type: 3, invocationId: message.invocationId }));
        case "result":
          // undefined would drop the key and turn the result into a void completion.
          return frame(
            JSON.stringify({
              type: 3,
              invocationId: message.invocationId,
              result: message.result === undefined ? null : message.result,
            }),
          );
        case "error":
          // An empty error cannot be written (clients close on it); the completion then reads as void.
          return frame(
            JSON.stringify(
              message.error === ""
                ? { type: 3, invocationId: message.invocationId }
                : { type: 3, invocationId: message.invocationId, error: message.error },
            ),
          );
      }
      // Exhaustive above; reached only through a value outside ServerMessage.
      throw new TypeError("unknown completion kind");
    case MessageType.Ping:
      return PING_JSON.slice();
    case MessageType.Close: {
      let json = `{"type":7`;
      if (message.error !== undefined && message.error !== "") json += `,"error":${JSON.stringify(message.error)}`;
      if (message.allowReconnect === true) json += `,"allowReconnect":true`;
      return frame(`${json}}`);
    }
    case MessageType.Ack:
    case MessageType.Sequence:
      return frame(JSON.stringify({ type: message.type, sequenceId: message.sequenceId }));
  }
}

/*
 * The fan-out hot path: one string (built in one template, separator included) and one UTF-8 copy.
 * Buffer.from takes small results from Node's shared 8 KB Buffer pool instead of allocating an
 * ArrayBuffer per frame, which is most of TextEncoder.encode's cost (measured 1.5 vs 1.8-2.3 µs for a
 * 550 B frame, JSON.stringify included). So the frame is a view into a pool slab it may share with other
 * frames: like every encoded frame it must never be mutated, and holding it keeps its slab alive.
 * Returned as a plain Uint8Array view (not a Buffer, whose `slice` would not copy).
 */
function encodeJsonNotification(target: string, argument: unknown): Uint8Array {
  // JSON.stringify(undefined) is undefined; inside an array JSON writes null, and so do we.
  const bytes = Buffer.from(
    `{"type":1,"target":${JSON.stringify(target)},"arguments":[${JSON.stringify(argument) ?? "null"}]}${SEPARATOR}`,
    "utf8",
  );
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function completion(record: Record<string, unknown>): CompletionMessage {
  readHeaders(record["headers"]);
  const message: CompletionMessage = { type: 3, invocationId: requireInvocationId(record["invocationId"]) };
  const error = readOptionalString(record["error"]);
  const result = record["result"];
  if (error !== undefined) {
    // ASP.NET: "The 'error' and 'result' properties are mutually exclusive."
    if (result !== undefined && result !== null) fail();
    message.error = error;
  } else if (result !== undefined && result !== null) {
    message.result = result;
  }
  return message;
}

function messageFromRecord(record: Record<string, unknown>): HubMessage {
  const type = record["type"];
  if (!isInteger(type)) return fail();
  switch (type) {
    case MessageType.Invocation:
      return invocation(record["headers"], record["invocationId"], record["target"], record["arguments"], record["streamIds"]);
    case MessageType.StreamItem:
      return streamItem(record["headers"], record["invocationId"], record["item"]);
    case MessageType.Completion:
      return completion(record);
    case MessageType.StreamInvocation:
      return streamInvocation(record["headers"], record["invocationId"], record["target"], record["arguments"], record["streamIds"]);
    case MessageType.CancelInvocation:
      return cancelInvocation(record["headers"], record["invocationId"]);
    case MessageType.Ping:
      return ping();
    case MessageType.Close:
      return close(record["error"], record["allowReconnect"]);
    case MessageType.Ack:
    case MessageType.Sequence:
      return sequenceNumbered(type, record["sequenceId"]);
    default:
      return unknownMessage(type);
  }
}

/** One record without its separator → message, or the Close error it earns. */
export function decodeJsonRecord(bytes: Uint8Array): HubMessage | DecodeError {
  let value: unknown;
  try {
    value = JSON.parse(textDecoder.decode(bytes));
  } catch {
    return "Invalid JSON";
  }
  if (!isPlainObject(value) || !isBoundedPlainData(value, MAX_NESTING_DEPTH)) return "Invalid JSON";
  try {
    return messageFromRecord(value);
  } catch (error) {
    if (error === INVALID_MESSAGE) return "Invalid message";
    throw error;
  }
}

class JsonFrameDecoder implements FrameDecoder {
  readonly #maxMessageBytes: number;
  /** Bytes of the current record; never contains a separator. */
  readonly #partial = new ByteBuffer();
  #error: DecodeError | undefined;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
  }

  get bufferedBytes(): number {
    return this.#partial.length;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.#error !== undefined) return { messages: [], error: this.#error };
    const messages: HubMessage[] = [];
    let start = 0;
    for (;;) {
      const separator = chunk.indexOf(RECORD_SEPARATOR, start);
      if (separator === -1) break;
      if (this.#partial.length + (separator - start) + 1 > this.#maxMessageBytes) {
        return this.#fail(messages, "Message too large");
      }
      let record: Uint8Array;
      if (this.#partial.length === 0) {
        record = chunk.subarray(start, separator);
      } else {
        this.#partial.append(chunk.subarray(start, separator));
        record = this.#partial.view();
      }
      const decoded = decodeJsonRecord(record);
      this.#partial.clear();
      if (typeof decoded === "string") return this.#fail(messages, decoded);
      messages.push(decoded);
      start = separator + 1;
    }
    const remaining = chunk.length - start;
    if (remaining > 0) {
      // The record will need at least one more byte (its separator), so reaching the limit without
      // one already proves it too large: fail now instead of buffering up to the transport limit.
      if (this.#partial.length + remaining >= this.#maxMessageBytes) return this.#fail(messages, "Message too large");
      this.#partial.append(chunk.subarray(start));
    }
    return { messages };
  }

  #fail(messages: HubMessage[], error: DecodeError): DecodeResult {
    this.#error = error;
    this.#partial.clear();
    return { messages, error };
  }
}

export const jsonProtocol: HubProtocol = Object.freeze({
  name: "json",
  transferFormat: "Text",
  binary: false,
  encode: encodeJsonMessage,
  encodeNotification: encodeJsonNotification,
  createDecoder(maxMessageBytes: number): FrameDecoder {
    checkMaxMessageBytes(maxMessageBytes);
    return new JsonFrameDecoder(maxMessageBytes);
  },
});

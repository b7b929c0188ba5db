import { Decoder, Encoder } from "@msgpack/msgpack";
import type { ExtensionCodecType } from "@msgpack/msgpack";
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
  requireInvocationId,
  requireLength,
  sequenceNumbered,
  streamInvocation,
  streamItem,
  unknownMessage,
} from "./message-fields.js";
import { MessageType } from "./messages.js";
import type { CompletionMessage, DecodeError, DecodeResult, FrameDecoder, HubMessage, HubProtocol, ServerMessage } from "./messages.js";
import { MAX_NESTING_DEPTH, isBoundedPlainData, isPlainObject } from "./plain-data.js";
import { readVarint, varintSize, writeVarint } from "./varint.js";

/** `02 91 06` — the keep-alive frame; shared, never mutate. */
export const PING_MSGPACK: Uint8Array = Uint8Array.of(0x02, 0x91, 0x06);

/** Completion ResultKind (docs/protocol.md §4.4). */
const ResultKind = { Error: 1, Void: 2, NonVoid: 3 } as const;

const EMPTY_MAP: Readonly<Record<string, never>> = Object.freeze({});
const EMPTY_ARRAY: readonly never[] = Object.freeze([]);

/** Thrown by the codec when a value is not plain JSON data; encode then retries with its JSON form. */
const NOT_PLAIN_DATA: Error = new Error("not plain data");

/*
 * Replaces @msgpack/msgpack's default codec, which writes Dates as the timestamp extension (docs/protocol.md §4.3
 * forbids it) and reads extensions into Dates/ExtData. The library asks tryToEncode about every
 * non-primitive before encoding it, which makes it a cheap guard: arrays and plain objects pass; for
 * anything else (Date, class instance, typed array, BigInt) encoding restarts on
 * JSON.parse(JSON.stringify(message)), so both protocols carry the same data (a Date becomes its ISO
 * string) and JSON's errors (BigInt, cycles) surface unchanged. Inbound extensions are rejected.
 */
const plainDataCodec: ExtensionCodecType<undefined> = {
  tryToEncode(object: unknown): null {
    if (Array.isArray(object) || isPlainObject(object)) return null;
    throw NOT_PLAIN_DATA;
  },
  decode(): never {
    throw new TypeError("MessagePack extension types are not accepted");
  },
};

// One shared encoder: encoding is synchronous and its buffer is copied into each frame at once.
const encoder = new Encoder({ extensionCodec: plainDataCodec, ignoreUndefined: true });

function frame(message: readonly unknown[]): Uint8Array {
  let body: Uint8Array;
  try {
    body = encoder.encodeSharedRef(message);
  } catch (error) {
    if (error !== NOT_PLAIN_DATA) throw error;
    body = encoder.encodeSharedRef(JSON.parse(JSON.stringify(message)));
  }
  const prefixSize = varintSize(body.length);
  const out = new Uint8Array(prefixSize + body.length);
  writeVarint(out, 0, body.length);
  out.set(body, prefixSize);
  return out;
}

/*
 * Layouts (docs/protocol.md §4.4, §4.6): Invocation always 6 elements with map headers and nil id; Completion
 * `[3,{},id,kind,(result)]`; Close always 3 elements `[7, error|nil, allowReconnect]`; Ack/Sequence
 * without headers.
 */
function encodeMessagePackMessage(message: ServerMessage): Uint8Array {
  switch (message.type) {
    case MessageType.Invocation:
      return frame([1, EMPTY_MAP, null, message.target, message.arguments, EMPTY_ARRAY]);
    case MessageType.Completion:
      switch (message.kind) {
        case "void":
          return frame([3, EMPTY_MAP, message.invocationId, ResultKind.Void]);
        case "result":
          return frame([3, EMPTY_MAP, message.invocationId, ResultKind.NonVoid, message.result]);
        case "error":
          return frame([3, EMPTY_MAP, message.invocationId, ResultKind.Error, message.error]);
      }
      // Exhaustive above; reached only through a value outside ServerMessage.
      throw new TypeError("unknown completion kind");
    case MessageType.Ping:
      return PING_MSGPACK.slice();
    case MessageType.Close:
      return frame([7, message.error === undefined || message.error === "" ? null : message.error, message.allowReconnect === true]);
    case MessageType.Ack:
    case MessageType.Sequence:
      return frame([message.type, message.sequenceId]);
  }
}

function encodeMessagePackNotification(target: string, argument: unknown): Uint8Array {
  return frame([1, EMPTY_MAP, null, target, [argument], EMPTY_ARRAY]);
}

function completion(array: readonly unknown[]): CompletionMessage {
  requireLength(array, 4);
  readHeaders(array[1]);
  const message: CompletionMessage = { type: 3, invocationId: requireInvocationId(array[2]) };
  switch (array[3]) {
    case ResultKind.Error: {
      requireLength(array, 5);
      const error = array[4];
      if (typeof error !== "string") return fail();
      message.error = error;
      return message;
    }
    case ResultKind.Void:
      return message;
    case ResultKind.NonVoid:
      requireLength(array, 5);
      message.result = array[4];
      return message;
    default:
      return fail();
  }
}

/** Minimum lengths per type (docs/protocol.md §4.4); extra trailing elements are ignored, as ASP.NET does. */
function messageFromArray(array: readonly unknown[]): HubMessage {
  const type = array[0];
  if (!isInteger(type)) return fail();
  switch (type) {
    case MessageType.Invocation:
      requireLength(array, 5);
      return invocation(array[1], array[2], array[3], array[4], array[5]);
    case MessageType.StreamItem:
      requireLength(array, 4);
      return streamItem(array[1], array[2], array[3]);
    case MessageType.Completion:
      return completion(array);
    case MessageType.StreamInvocation:
      requireLength(array, 5);
      return streamInvocation(array[1], array[2], array[3], array[4], array[5]);
    case MessageType.CancelInvocation:
      requireLength(array, 3);
      return cancelInvocation(array[1], array[2]);
    case MessageType.Ping:
      return ping();
    case MessageType.Close:
      requireLength(array, 2);
      return close(array[1], array[2]);
    case MessageType.Ack:
    case MessageType.Sequence:
      requireLength(array, 2);
      return sequenceNumbered(type, array[1]);
    default:
      return unknownMessage(type);
  }
}

/**
 * One decoder per limit, shared by all connections (decoding is synchronous). Every length a
 * header can announce is capped by the message limit, so a tiny body cannot make the library
 * allocate a huge array before it notices the data is missing.
 */
const decoders = new Map<number, Decoder>();

function decoderFor(maxMessageBytes: number): Decoder {
  let decoder = decoders.get(maxMessageBytes);
  if (decoder === undefined) {
    decoder = new Decoder({
      extensionCodec: plainDataCodec,
      maxStrLength: maxMessageBytes,
      maxBinLength: maxMessageBytes,
      maxArrayLength: maxMessageBytes,
      maxMapLength: maxMessageBytes,
      maxExtLength: maxMessageBytes,
    });
    decoders.set(maxMessageBytes, decoder);
  }
  return decoder;
}

/** One body without its prefix → message, or the Close error it earns. */
export function decodeMessagePackBody(body: Uint8Array, decoder: Decoder): HubMessage | DecodeError {
  let value: unknown;
  try {
    // Throws on truncated data, bytes after the value, never-used bytes (0xC1), extensions and
    // non-string/number map keys.
    value = decoder.decode(body);
  } catch {
    return "Invalid MessagePack";
  }
  // Besides bounding depth, this rejects bin values: the library returns them as views into the
  // inbound buffer, which is reused.
  if (!Array.isArray(value) || !isBoundedPlainData(value, MAX_NESTING_DEPTH)) return "Invalid MessagePack";
  try {
    if (value.length === 0) return fail();
    return messageFromArray(value);
  } catch (error) {
    if (error === INVALID_MESSAGE) return "Invalid message";
    throw error;
  }
}

class MessagePackFrameDecoder implements FrameDecoder {
  readonly #maxMessageBytes: number;
  readonly #decoder: Decoder;
  /** Unconsumed input: the start of one incomplete frame. */
  readonly #partial = new ByteBuffer();
  #error: DecodeError | undefined;

  constructor(maxMessageBytes: number) {
    this.#maxMessageBytes = maxMessageBytes;
    this.#decoder = decoderFor(maxMessageBytes);
  }

  get bufferedBytes(): number {
    return this.#partial.length;
  }

  push(chunk: Uint8Array): DecodeResult {
    if (this.#error !== undefined) return { messages: [], error: this.#error };
    // Without pending bytes, frames are decoded straight from the chunk; only a trailing partial
    // frame is copied.
    const buffered = this.#partial.length > 0;
    if (buffered) this.#partial.append(chunk);
    const input = buffered ? this.#partial.view() : chunk;
    const messages: HubMessage[] = [];
    let offset = 0;
    while (offset < input.length) {
      const prefix = readVarint(input, offset);
      if (prefix.status === "incomplete") break;
      if (prefix.status === "invalid" || prefix.value === 0) return this.#fail(messages, "Invalid MessagePack");
      // The announced size alone decides: no need to wait for a body that will be refused.
      if (prefix.size + prefix.value > this.#maxMessageBytes) return this.#fail(messages, "Message too large");
      const end = offset + prefix.size + prefix.value;
      if (end > input.length) break;
      const decoded = decodeMessagePackBody(input.subarray(offset + prefix.size, end), this.#decoder);
      if (typeof decoded === "string") return this.#fail(messages, decoded);
      messages.push(decoded);
      offset = end;
    }
    if (buffered) this.#partial.discard(offset);
    else if (offset < chunk.length) this.#partial.append(chunk.subarray(offset));
    return { messages };
  }

  #fail(messages: HubMessage[], error: DecodeError): DecodeResult {
    this.#error = error;
    this.#partial.clear();
    return { messages, error };
  }
}

export const messagePackProtocol: HubProtocol = Object.freeze({
  name: "messagepack",
  transferFormat: "Binary",
  binary: true,
  encode: encodeMessagePackMessage,
  encodeNotification: encodeMessagePackNotification,
  createDecoder(maxMessageBytes: number): FrameDecoder {
    checkMaxMessageBytes(maxMessageBytes);
    return new MessagePackFrameDecoder(maxMessageBytes);
  },
});

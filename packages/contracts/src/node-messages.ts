import { AUDIENCE_KINDS, type AudienceTypeValue } from "./audience.js";
import { toDelivered } from "./delivered.js";
import type { Notification } from "./envelope.js";
import {
  encodeJson,
  isObject,
  isPlainJsonString as plain,
  notificationJson,
  parseJsonObject,
  SLAB_RESULT_BYTES,
  slab,
  utf8,
} from "./json-wire.js";

/** The wire form of one kind of cross-node message; publisher and subscriber use the same codec. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws `TypeError` for bytes that are not this kind of message. */
  decode(data: Uint8Array): T;
}

function parse(data: Uint8Array, what: string): Record<string, unknown> {
  return parseJsonObject(data, `${what}: not JSON`, `${what}: not a JSON object`);
}

/**
 * A validated, normalised notification as UTF-8 JSON: what HTTP ingest publishes to JetStream and what a
 * router sends to a gateway node on `tidings.v1.node.<nodeId>`. Only Tidings publishes these, after
 * validation, so decoding checks the shape the gateway relies on (id, type, routing, metadata), not every rule.
 */
export const notificationCodec: Codec<Notification> = {
  encode: (n) => utf8(notificationJson(n)),
  decode(data) {
    const n = parse(data, "notification");
    if (typeof n["id"] !== "string" || typeof n["type"] !== "string" || !isObject(n["routing"]) || !isObject(n["metadata"])) {
      throw new TypeError("notification: id, type, routing and metadata are required");
    }
    if (typeof n["routing"]["audienceId"] !== "string") throw new TypeError("notification: routing.audienceId is required");
    const audienceType = n["routing"]["audienceType"];
    if (typeof audienceType !== "number" || AUDIENCE_KINDS[audienceType as AudienceTypeValue] === undefined)
      throw new TypeError("notification: unknown routing.audienceType");
    if (typeof n["metadata"]["timeStamp"] !== "string") throw new TypeError("notification: metadata.timeStamp is required");
    return n as unknown as Notification;
  },
};

/**
 * The framed node message: what a router sends a gateway node that announced `FRAMED_NODE_MESSAGES`
 * (registry snapshot and heartbeat). A fixed header, the strings fan-out needs before anything else, then
 * the JSON hub frame a JSON client receives for the notification's live delivery (`isRead` false), byte for
 * byte what the gateway's JSON protocol writes, so a node whose members all speak JSON publishes a view of
 * the received bytes: no JSON parse, no copy. Everything else (MessagePack members, tracing, an encode
 * fallback) decodes the notification from the frame on first use.
 *
 *   0  u8   FRAMED_MARKER (the JSON format's first byte is always `{`)
 *   1  u8   routing.audienceType
 *   2  u8   flags: bit 0 set when the three strings below are ASCII, one byte per character; else they
 *           are UTF-16LE (lossless for any JavaScript string, lone surrogates included)
 *   3  u8   byte length of metadata.timeStamp
 *   4  u16  byte length of id (little endian)
 *   6  u16  byte length of routing.audienceId (little endian)
 *   8       id, audienceId, timeStamp, then the frame (UTF-8) to the end
 */
export const FRAMED_NODE_MESSAGES = "framed-v1";
const FRAMED_MARKER = 0x01;
const HEADER_BYTES = 8;
const ASCII_STRINGS = 1;
const RECORD_SEPARATOR = 0x1e;

/** The JSON hub frame of a live delivery as `jsonProtocol` writes it: `{"type":1,"target":…,"arguments":[<delivered>]}` + RS. */
function liveFrameText(n: Notification): string {
  const target = JSON.stringify(n.type);
  return `{"type":1,"target":${target},"arguments":[${deliveredJson(n, target)}]}\u001e`;
}

const WIRE_KEYS = ["id", "type", "body", "routing", "metadata"] as const;

/**
 * True when `n` has exactly the members `notificationCodec` writes, in its order (a validated
 * notification does): then its JSON is `{"id":…,"type":…,"body":…` and a frame can be spliced from it.
 */
export function inWireOrder(n: Notification): boolean {
  return hasKeysInOrder(n, WIRE_KEYS);
}

/** True when `o`'s enumerable keys (own and inherited) are exactly `keys`, in order: what JSON.stringify writes of a plain object. */
export function hasKeysInOrder(o: object, keys: readonly string[]): boolean {
  let k = 0;
  for (const key in o) if (key !== keys[k++]) return false;
  return k === keys.length;
}

/**
 * `JSON.stringify(toDelivered(n, false))`. The notification's own JSON (often already written for the
 * store) has the same members with `"audienceId":…,"isRead":false,` missing before `"body"`, so that is
 * inserted into it rather than serialising the body again; when `n` has other members or another order,
 * the delivered object is serialised.
 */
function deliveredJson(n: Notification, target: string): string {
  const insert = `"audienceId":${JSON.stringify(n.routing.audienceId)},"isRead":false,`;
  if (inWireOrder(n)) {
    const json = notificationJson(n);
    // `{"id":<id>,"type":<type>,` then `"body":`
    const split = 6 + JSON.stringify(n.id).length + 8 + target.length + 1;
    if (json.startsWith(`"body":`, split)) return json.slice(0, split) + insert + json.slice(split);
  }
  return JSON.stringify(toDelivered(n, false));
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * The common case written straight into the message: id, type, audience id and time stamp plain (JSON
 * writes each as its characters in quotes) and the notification's JSON in member order. Everything
 * before the body is then ASCII (the header's strings, the frame's head, the JSON's head and the insert):
 * one latin1 write; the JSON from `"body":` on is one UTF-8 write. Small messages go into the shared
 * slab. Null otherwise.
 */
function plainFramedNodeMessage(n: Notification): Uint8Array | null {
  const { id, type } = n;
  const { audienceId } = n.routing;
  const { timeStamp } = n.metadata;
  if (!plain(id) || !plain(type) || !plain(audienceId) || !plain(timeStamp)) return null;
  if (!inWireOrder(n)) return null;
  const json = notificationJson(n);
  // `{"id":<id>,"type":<type>,` then `"body":`
  const split = 6 + id.length + 2 + 8 + type.length + 2 + 1;
  if (!json.startsWith(`"body":`, split)) return null;
  const head = `${id}${audienceId}${timeStamp}{"type":1,"target":"${type}","arguments":[${json.slice(0, split)}"audienceId":"${audienceId}","isRead":false,`;
  const rest = json.slice(split);
  const most = HEADER_BYTES + head.length + rest.length * 3 + 3;
  const small = most <= SLAB_RESULT_BYTES;
  const start = small ? slab.reserve(most) : 0;
  const out = small ? slab.buf : Buffer.allocUnsafe(HEADER_BYTES + head.length + Buffer.byteLength(rest, "utf8") + 3);
  out[start] = FRAMED_MARKER;
  out[start + 1] = n.routing.audienceType;
  out[start + 2] = ASCII_STRINGS;
  out[start + 3] = timeStamp.length;
  out[start + 4] = id.length & 0xff;
  out[start + 5] = id.length >>> 8;
  out[start + 6] = audienceId.length & 0xff;
  out[start + 7] = audienceId.length >>> 8;
  let at = start + HEADER_BYTES;
  at += out.write(head, at, "latin1");
  at += out.write(rest, at, "utf8");
  out[at++] = 0x5d; // ]
  out[at++] = 0x7d; // }
  out[at++] = 0x1e; // record separator
  return small ? slab.take(start, at) : out;
}

/** The framed node message of `n` (one per notification, published unchanged to every framed node). */
export function encodeFramedNodeMessage(n: Notification): Uint8Array {
  if (n.id.length <= 0xffff && n.routing.audienceId.length <= 0xffff && n.metadata.timeStamp.length <= 0xff) {
    const plain = plainFramedNodeMessage(n);
    if (plain !== null) return plain;
  }
  const { id } = n;
  const { audienceId } = n.routing;
  const { timeStamp } = n.metadata;
  const ascii = isAscii(id) && isAscii(audienceId) && isAscii(timeStamp);
  const perChar = ascii ? 1 : 2;
  const idBytes = perChar * id.length;
  const audienceIdBytes = perChar * audienceId.length;
  const timeStampBytes = perChar * timeStamp.length;
  if (idBytes > 0xffff || audienceIdBytes > 0xffff || timeStampBytes > 0xff) {
    throw new RangeError("framed node message: id, audience id or time stamp too long");
  }
  const frame = liveFrameText(n);
  let out: Buffer;
  if (ascii) {
    // One string, one UTF-8 write: the strings' bytes are their characters.
    const text = id + audienceId + timeStamp + frame;
    out = Buffer.allocUnsafe(HEADER_BYTES + Buffer.byteLength(text, "utf8"));
    out.write(text, HEADER_BYTES, "utf8");
  } else {
    const frameAt = HEADER_BYTES + idBytes + audienceIdBytes + timeStampBytes;
    out = Buffer.allocUnsafe(frameAt + Buffer.byteLength(frame, "utf8"));
    out.write(id, HEADER_BYTES, "utf16le");
    out.write(audienceId, HEADER_BYTES + idBytes, "utf16le");
    out.write(timeStamp, HEADER_BYTES + idBytes + audienceIdBytes, "utf16le");
    out.write(frame, frameAt, "utf8");
  }
  out[0] = FRAMED_MARKER;
  out[1] = n.routing.audienceType;
  out[2] = ascii ? ASCII_STRINGS : 0;
  out[3] = timeStampBytes;
  out.writeUInt16LE(idBytes, 4);
  out.writeUInt16LE(audienceIdBytes, 6);
  return out;
}

type StringSlice = (this: Uint8Array, start: number, end: number) => string;
/*
 * Buffer's own string readers, called on the received Uint8Array: no Buffer view is made per string
 * (`Buffer.from(…).toString(…)` costs several times more for a 36-character id). Not in Node's docs but
 * what `toString` calls; the node-message tests exercise both.
 */
const { latin1Slice, ucs2Slice } = Buffer.prototype as unknown as { latin1Slice: StringSlice; ucs2Slice: StringSlice };

/**
 * A notification as a gateway node delivers it: read from a framed node message without parsing its
 * JSON, or from the notification's own JSON (routers before the framed format, and routers sending to a
 * node that did not announce it), or wrapped around a notification object (standalone ingest).
 *
 * A framed message is only checked and measured when read: its strings and the view of its frame are
 * made on first use, and fan-out can work on the header's bytes (`framed`, `idStart`…) without them.
 */
export class NodeMessage {
  #notification: Notification | null;
  #id: string | null;
  #audienceId: string | null;
  #jsonFrame: Uint8Array | null = null;

  private constructor(
    readonly audienceType: AudienceTypeValue,
    /** The notification as `notificationCodec` encoded it, when it came that way; else null. */
    readonly json: Uint8Array | null,
    notification: Notification | null,
    id: string | null,
    audienceId: string | null,
    /** The framed message as received; null for the other formats. */
    readonly framed: Uint8Array | null = null,
    /** In `framed`: the id is `[idStart, idEnd)`, the audience id `[idEnd, audienceIdEnd)`, then the time stamp and the frame. */
    readonly idEnd = 0,
    readonly audienceIdEnd = 0,
    readonly frameStart = 0,
    /** In `framed`: the header's strings are UTF-16LE, two bytes per code unit; else one byte per code unit (ASCII). */
    readonly wideStrings = false,
  ) {
    this.#notification = notification;
    this.#id = id;
    this.#audienceId = audienceId;
  }

  /** Where the id starts in `framed`. */
  get idStart(): number {
    return HEADER_BYTES;
  }

  /** `n`, with its `notificationCodec` bytes when it arrived as those. */
  static of(n: Notification, json: Uint8Array | null = null): NodeMessage {
    return new NodeMessage(n.routing.audienceType, json, n, n.id, n.routing.audienceId);
  }

  /**
   * A node message in either format (the JSON one starts with `{`). Throws `TypeError` ("framed node message: …" or
   * "notification: …") for anything else; the frame itself is checked by `notification()`, on first use.
   */
  static read(data: Uint8Array): NodeMessage {
    if (data[0] !== FRAMED_MARKER) return NodeMessage.of(notificationCodec.decode(data), data);
    if (data.length < HEADER_BYTES) throw new TypeError("framed node message: truncated");
    const idBytes = data[4]! | (data[5]! << 8);
    const audienceIdBytes = data[6]! | (data[7]! << 8);
    const idEnd = HEADER_BYTES + idBytes;
    const audienceIdEnd = idEnd + audienceIdBytes;
    const frameStart = audienceIdEnd + data[3]!;
    // The frame goes to JSON clients as is: one cut short (no record separator) would run into the next.
    // (`length`, not `byteLength`, the same for bytes: V8 inlines the one and calls out for the other.)
    if (frameStart >= data.length || data[data.length - 1] !== RECORD_SEPARATOR) throw new TypeError("framed node message: truncated");
    const wide = (data[2]! & ASCII_STRINGS) === 0;
    // UTF-16LE strings have even byte lengths (an odd one would lose its last byte silently).
    if (wide && ((data[3]! | data[4]! | data[6]!) & 1) !== 0) throw new TypeError("framed node message: odd UTF-16 length");
    const audienceType = data[1]!;
    if (AUDIENCE_KINDS[audienceType as AudienceTypeValue] === undefined) throw new TypeError("framed node message: unknown audience type");
    return new NodeMessage(audienceType as AudienceTypeValue, null, null, null, null, data, idEnd, audienceIdEnd, frameStart, wide);
  }

  get id(): string {
    return (this.#id ??= this.#string(HEADER_BYTES, this.idEnd));
  }

  get audienceId(): string {
    return (this.#audienceId ??= this.#string(this.idEnd, this.audienceIdEnd));
  }

  /** The JSON hub frame of the live delivery (framed format: a view of the received bytes); null: encode `notification()`. */
  get jsonFrame(): Uint8Array | null {
    const data = this.framed;
    if (data === null) return null;
    return (this.#jsonFrame ??= data.subarray(this.frameStart));
  }

  /** metadata.timeStamp (read from the framed header on demand: fan-out wants it for a sample only). */
  timeStamp(): string {
    if (this.framed === null) return this.#notification!.metadata.timeStamp;
    return this.#string(this.audienceIdEnd, this.frameStart);
  }

  /** A string of the framed header: ASCII (latin1 reads the same characters, cheaper than UTF-8) or UTF-16LE. */
  #string(start: number, end: number): string {
    return (this.wideStrings ? ucs2Slice : latin1Slice).call(this.framed!, start, end);
  }

  /** The notification, decoded from the frame on first use when framed. Throws `TypeError` for a malformed frame. */
  notification(): Notification {
    if (this.#notification === null) {
      const frame = this.jsonFrame!;
      const invocation = parse(frame.subarray(0, frame.byteLength - 1), "framed node message");
      const args = invocation["arguments"];
      // An Invocation of the notification's type with the delivered notification as its only argument.
      const d: unknown = invocation["type"] === 1 && Array.isArray(args) && args.length === 1 ? args[0] : undefined;
      if (
        !isObject(d) ||
        !isObject(d["routing"]) ||
        !isObject(d["metadata"]) ||
        typeof d["type"] !== "string" ||
        invocation["target"] !== d["type"]
      ) {
        throw new TypeError("framed node message: no delivered notification in the frame");
      }
      const { routing, metadata } = d;
      if (
        d["id"] !== this.id ||
        routing["audienceId"] !== this.audienceId ||
        routing["audienceType"] !== this.audienceType ||
        metadata["timeStamp"] !== this.timeStamp()
      )
        throw new TypeError("framed node message: header and frame differ");
      this.#notification = {
        id: d["id"],
        type: d["type"],
        body: d["body"],
        routing: d["routing"],
        metadata: d["metadata"],
      } as Notification;
    }
    return this.#notification;
  }
}

/** A user's read-state change on its way to every gateway node (`subjects.userEvents`). */
export interface UserEvent {
  userId: string;
  /** The hub event's target, e.g. `EventReadStatusChange`. */
  target: string;
  /** The event's single argument, sent as is to every connection of the user. */
  payload: unknown;
}

/** `UserEvent` as UTF-8 JSON `{"userId","target","payload"}`. */
export const userEventCodec: Codec<UserEvent> = {
  encode: ({ userId, target, payload }) => encodeJson({ userId, target, payload }),
  decode(data) {
    const e = parse(data, "user event");
    if (typeof e["userId"] !== "string" || typeof e["target"] !== "string")
      throw new TypeError("user event: userId and target must be strings");
    return { userId: e["userId"], target: e["target"], payload: e["payload"] };
  },
};

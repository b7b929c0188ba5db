import { hasKeysInOrder, inWireOrder, isPlainJsonString as isPlain, utf8, type Notification } from "@tidings/contracts";

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));
const BODY_KEY = ascii(`"body":`);
const ID_KEY_BYTES = `{"id":`.length;
const TYPE_KEY_BYTES = `,"type":`.length;
const HEAD = ascii(`{"type":1,"target":`);
const ARGUMENTS = ascii(`,"arguments":[`);
const AUDIENCE_ID = ascii(`"audienceId":`);
const IS_READ = ascii(`,"isRead":false,`);
const TAIL = ascii(`]}\u001e`);

/**
 * The JSON hub frame of a live delivery (`isRead` false) of `n`, built from `wire`: the notification's
 * JSON as a gateway node receives it (`notificationCodec`, `{"id":…,"type":…,"body":…,"routing":…,"metadata":…}`),
 * `n` being its decoded form. The delivered object has the same members with `"audienceId":…,"isRead":false,`
 * before `"body"`, so the frame is the invocation head, the wire up to `"body":`, that insert, the rest of
 * the wire and the tail: body, routing and metadata are copied as bytes, not serialised again, and no
 * string is built. For wire that `JSON.stringify` wrote the frame is byte for byte what
 * `jsonProtocol.encodeNotification` makes of `toDelivered(n, false)`, at a fraction of its cost (the
 * body's serialisation was most of a one-receiver delivery). Null when `n` has other members or another
 * order: the caller encodes the object instead.
 */
export function deliveredJsonFrame(n: Notification, wire: Uint8Array): Uint8Array | null {
  if (!inWireOrder(n)) return null;
  const target = n.type;
  const audienceId = n.routing.audienceId;
  // Common case, without a pass to measure the strings first: id, type and audience id plain (JSON
  // writes each as its characters in quotes). Then `"body":` follows `{"id":<id>,"type":<type>,`.
  const split = ID_KEY_BYTES + n.id.length + 2 + TYPE_KEY_BYTES + target.length + 2 + 1;
  if (isBodyKeyAt(wire, split)) {
    const frame = assemble(wire, split, target.length + 2, audienceId.length + 2);
    if (
      writePlain(frame, target, HEAD.length) &&
      writePlain(frame, audienceId, HEAD.length + target.length + 2 + ARGUMENTS.length + split + AUDIENCE_ID.length)
    ) {
      return frame;
    }
  }
  // A raw `"` only delimits strings in JSON (inside one it is escaped), and id and type are strings before
  // body: so the first `"body":` is body's key.
  const found = indexOfBodyKey(wire);
  if (found === -1) return null;
  const targetBytes = jsonStringBytes(target);
  const audienceIdBytes = jsonStringBytes(audienceId);
  const frame = assemble(wire, found, targetBytes, audienceIdBytes);
  writeJsonString(frame, target, targetBytes, HEAD.length);
  writeJsonString(frame, audienceId, audienceIdBytes, HEAD.length + targetBytes + ARGUMENTS.length + found + AUDIENCE_ID.length);
  return frame;
}

/**
 * The frame with everything but the target and the audience id (`targetBytes` / `audienceIdBytes` long
 * as JSON strings), whose places the caller fills.
 */
function assemble(wire: Uint8Array, split: number, targetBytes: number, audienceIdBytes: number): Buffer {
  const insertBytes = AUDIENCE_ID.length + audienceIdBytes + IS_READ.length;
  const headBytes = HEAD.length + targetBytes + ARGUMENTS.length;
  // allocUnsafe takes small frames from Node's shared pool; the frame is never mutated once returned.
  const frame = Buffer.allocUnsafe(headBytes + wire.byteLength + insertBytes + TAIL.length);
  // The wire after the head and the gap for the insert (its first `split` bytes are overwritten below),
  // then the rest front to back. Short parts are copied byte by byte: cheaper than a builtin call each.
  frame.set(wire, headBytes + insertBytes);
  copyInto(frame, HEAD, 0);
  let at = copyInto(frame, ARGUMENTS, HEAD.length + targetBytes);
  for (let i = 0; i < split; i++) frame[at + i] = wire[i]!;
  at = copyInto(frame, AUDIENCE_ID, at + split);
  copyInto(frame, IS_READ, at + audienceIdBytes);
  copyInto(frame, TAIL, frame.length - TAIL.length);
  return frame;
}

/** Copies `part` into `frame` at `at`; returns the index after it. */
function copyInto(frame: Uint8Array, part: Uint8Array, at: number): number {
  for (let i = 0; i < part.length; i++) frame[at + i] = part[i]!;
  return at + part.length;
}

function isBodyKeyAt(wire: Uint8Array, at: number): boolean {
  if (at + BODY_KEY.length > wire.byteLength) return false;
  for (let j = 0; j < BODY_KEY.length; j++) if (wire[at + j] !== BODY_KEY[j]) return false;
  return true;
}

/** Writes `s` in quotes at `at` when JSON writes it as its characters; false (frame unusable) otherwise. */
function writePlain(frame: Buffer, s: string, at: number): boolean {
  frame[at] = 0x22;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
    frame[at + 1 + i] = c;
  }
  frame[at + 1 + s.length] = 0x22;
  return true;
}

/** UTF-8 length of `s` as a JSON string (quotes included). */
function jsonStringBytes(s: string): number {
  return isPlain(s) ? s.length + 2 : Buffer.byteLength(JSON.stringify(s));
}

/** Writes `s` as a JSON string (`bytes` long, from jsonStringBytes) at `at`: plain ones char by char, others escaped by JSON.stringify. */
function writeJsonString(frame: Buffer, s: string, bytes: number, at: number): void {
  if (bytes !== s.length + 2) {
    frame.write(JSON.stringify(s), at);
    return;
  }
  frame[at] = 0x22;
  for (let i = 0; i < s.length; i++) frame[at + 1 + i] = s.charCodeAt(i);
  frame[at + bytes - 1] = 0x22;
}

function indexOfBodyKey(wire: Uint8Array): number {
  const last = wire.byteLength - BODY_KEY.length;
  outer: for (let i = 0; i <= last; i++) {
    if (wire[i] !== 0x22) continue;
    for (let j = 1; j < BODY_KEY.length; j++) if (wire[i + j] !== BODY_KEY[j]) continue outer;
    return i;
  }
  return -1;
}

const ROUTING_KEYS = ["audienceType", "audienceValue", "tenantId", "audienceId"] as const;
const METADATA_KEYS = ["producer", "timeStamp", "isPersisted", "persistedTTL"] as const;

/**
 * The JSON hub frame of a live delivery (`isRead` false) of `n` held as an object, for the shape validation
 * gives it: byte for byte what `jsonProtocol.encodeNotification(n.type, toDelivered(n, false))` writes, from one
 * template in which only the body is serialised (one JSON.stringify of the whole delivered object walked
 * routing and metadata too, at about a fifth of the frame's cost). Null when a member is not of that shape
 * (other keys, another order, other types) or the body has a `toJSON` (JSON.stringify passes it the key
 * `"body"` only inside the object): the caller then encodes the object.
 */
export function liveJsonFrame(n: Notification): Uint8Array | null {
  const { id, type, body, routing, metadata } = n;
  if (
    typeof id !== "string" ||
    typeof type !== "string" ||
    !hasKeysInOrder(routing, ROUTING_KEYS) ||
    !hasKeysInOrder(metadata, METADATA_KEYS)
  ) {
    return null;
  }
  const { audienceType, audienceValue, tenantId, audienceId } = routing;
  const { producer, timeStamp, isPersisted, persistedTTL } = metadata;
  if (
    !Number.isFinite(audienceType) ||
    typeof audienceValue !== "string" ||
    (tenantId !== null && typeof tenantId !== "string") ||
    typeof audienceId !== "string" ||
    typeof producer !== "string" ||
    typeof timeStamp !== "string" ||
    typeof isPersisted !== "boolean" ||
    (persistedTTL !== null && typeof persistedTTL !== "string")
  ) {
    return null;
  }
  if (mayCallToJson(body)) return null;
  // undefined for a body JSON cannot write (JSON.stringify then leaves the member out)
  const bodyJson = JSON.stringify(body) as string | undefined;
  if (bodyJson === undefined) return null;
  // Common case: every string plain (JSON writes it as its characters in quotes), written in place.
  if (
    isPlain(id) &&
    isPlain(type) &&
    isPlain(audienceId) &&
    isPlain(audienceValue) &&
    (tenantId === null || isPlain(tenantId)) &&
    isPlain(producer) &&
    isPlain(timeStamp) &&
    (persistedTTL === null || isPlain(persistedTTL))
  ) {
    return utf8(
      `{"type":1,"target":"${type}","arguments":[{"id":"${id}","type":"${type}","audienceId":"${audienceId}","isRead":false,` +
        `"body":${bodyJson},"routing":{"audienceType":${audienceType},"audienceValue":"${audienceValue}",` +
        `"tenantId":${tenantId === null ? "null" : `"${tenantId}"`},"audienceId":"${audienceId}"},` +
        `"metadata":{"producer":"${producer}","timeStamp":"${timeStamp}","isPersisted":${isPersisted},` +
        `"persistedTTL":${persistedTTL === null ? "null" : `"${persistedTTL}"`}}}]}\u001e`,
    );
  }
  const target = JSON.stringify(type);
  const audience = JSON.stringify(audienceId);
  return utf8(
    `{"type":1,"target":${target},"arguments":[{"id":${JSON.stringify(id)},"type":${target},"audienceId":${audience},"isRead":false,` +
      `"body":${bodyJson},"routing":{"audienceType":${audienceType},"audienceValue":${JSON.stringify(audienceValue)},` +
      `"tenantId":${JSON.stringify(tenantId)},"audienceId":${audience}},` +
      `"metadata":{"producer":${JSON.stringify(producer)},"timeStamp":${JSON.stringify(timeStamp)},"isPersisted":${isPersisted},` +
      `"persistedTTL":${JSON.stringify(persistedTTL)}}}]}\u001e`,
  );
}

/** True when JSON.stringify would call a `toJSON` of `value` (functions and BigInts may have one too). */
function mayCallToJson(value: unknown): boolean {
  if (typeof value === "bigint") return true;
  if ((typeof value !== "object" || value === null) && typeof value !== "function") return false;
  return typeof (value as { toJSON?: unknown }).toJSON === "function";
}

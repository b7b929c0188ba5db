import type { Notification } from "@tidings/contracts";

/*
 * The body JSON of notifications ingested over HTTP in this process, as the producer sent it (UTF-8
 * bytes, a view of the request's copy), kept beside the notification object (never on it: codecs and the
 * store serialise the object's members) until the object is collected. Validated notifications are never
 * mutated, so the bytes stay the body's JSON for the object's life. A view keeps its request's copy alive.
 */
const bodies = new WeakMap<Notification, Uint8Array>();

/** Records `json` (valid UTF-8 whose decoding JSON.parse read `n.body` from) as `n`'s body. */
export function keepReceivedBody(n: Notification, json: Uint8Array): void {
  bodies.set(n, json);
}

/**
 * The JSON hub frame of a live delivery (`isRead` false) of `n`, written around its body as received
 * instead of serialising the body again (most of an encode); null when no body was kept. Members and
 * their order are `jsonProtocol.encodeNotification(n.type, toDelivered(n, false))`'s (the members
 * validation makes, in its order): for a body sent as JSON.stringify writes it the frame is byte for
 * byte the same, otherwise (whitespace, escapes, number forms as sent) it parses to the same value.
 * Like every encoded frame it may share a pooled slab: never mutate it.
 */
export function receivedBodyFrame(n: Notification): Uint8Array | null {
  const body = bodies.get(n);
  return body === undefined ? null : frameAround(n, body);
}

/** The frame of `n` with `body` as its body's JSON. */
export function frameAround(n: Notification, body: Uint8Array): Uint8Array {
  const { routing, metadata } = n;
  const { audienceValue, tenantId } = routing;
  const { producer, timeStamp, persistedTTL } = metadata;
  // One JSON.stringify call per string costs more than the rest of the frame: plain strings (the common
  // case) are written as their characters in quotes, and the frame's text around the body is then ASCII.
  const plain =
    isPlain(n.id) &&
    isPlain(n.type) &&
    isPlain(routing.audienceId) &&
    isPlain(audienceValue) &&
    (tenantId === null || isPlain(tenantId)) &&
    isPlain(producer) &&
    isPlain(timeStamp) &&
    (persistedTTL === null || isPlain(persistedTTL));
  const q = plain ? quoted : jsonString;
  const target = q(n.type);
  const audienceId = q(routing.audienceId);
  const head = `{"type":1,"target":${target},"arguments":[{"id":${q(n.id)},"type":${target},"audienceId":${audienceId},"isRead":false,"body":`;
  const tail =
    `,"routing":{"audienceType":${routing.audienceType},"audienceValue":${q(audienceValue)},"tenantId":${tenantId === null ? "null" : q(tenantId)},"audienceId":${audienceId}},` +
    `"metadata":{"producer":${q(producer)},"timeStamp":${q(timeStamp)},"isPersisted":${metadata.isPersisted},"persistedTTL":${persistedTTL === null ? "null" : q(persistedTTL)}}}]}\u001e`;
  const headBytes = plain ? head.length : Buffer.byteLength(head);
  const tailBytes = plain ? tail.length : Buffer.byteLength(tail);
  // allocUnsafe takes small frames from Node's shared pool.
  const frame = Buffer.allocUnsafe(headBytes + body.length + tailBytes) as Buffer & Writers;
  const write = plain ? frame.latin1Write : frame.utf8Write;
  write.call(frame, head, 0, headBytes);
  frame.set(body, headBytes);
  write.call(frame, tail, headBytes + body.length, tailBytes);
  return new Uint8Array(frame.buffer, frame.byteOffset, frame.byteLength);
}

/**
 * Buffer's own string writers (what `write` calls after checking its arguments): not in Node's docs, as
 * the readers contracts' node messages use; the frame tests exercise both.
 */
interface Writers {
  latin1Write(s: string, offset: number, length: number): number;
  utf8Write(s: string, offset: number, length: number): number;
}

/** True when JSON writes `s` as its characters in quotes: printable ASCII other than `"` and `\`. */
function isPlain(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x22 || c === 0x5c) return false;
  }
  return true;
}

function quoted(s: string): string {
  return `"${s}"`;
}

function jsonString(s: string): string {
  return JSON.stringify(s);
}

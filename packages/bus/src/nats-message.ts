import type { JsMsg } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/nats-core";
import type { BusHeaders } from "@tidings/contracts";
import { fromNatsHeaders } from "./headers.js";

/**
 * What nats.js 3.x's `MsgImpl` keeps of a received message: the bytes as read (headers, then payload)
 * and where the headers end (-1: none). Not public API; read only after checking the shape, with the
 * public getters as the fallback, so a nats.js that changes them is slower, never wrong.
 */
interface ReceivedParts {
  _rdata?: unknown;
  _msg?: { hdr?: unknown };
}

type StringSlice = (this: Uint8Array, start: number, end: number) => string;
/**
 * Buffer's UTF-8 reader called on the received bytes: no view made to decode them (what `toString`
 * calls; invalid sequences become U+FFFD as with nats.js's `TextDecoder`, and a header block starts
 * with `NATS/1.0`, so there is no byte-order mark for the two to treat differently).
 */
const { utf8Slice } = Buffer.prototype as unknown as { utf8Slice: StringSlice };
const HEADER_LINE_END = "\r\n";

/**
 * A received message's headers as `fromNatsHeaders(msg.headers)` gives them (each name's first value, the
 * name as sent, the value trimmed), read from the header bytes with one string for the block instead of
 * nats.js's `Map`, line array, arrays per name and canonical-name string per header. A block nats.js would
 * refuse (a name with a character outside `!`…`~` or a `:`, a lone CR or LF in a value) goes through
 * nats.js, which throws as before.
 */
export function receivedHeaders(msg: Msg): BusHeaders | null {
  const parts = msg as unknown as ReceivedParts;
  const data = parts._rdata;
  const hdr = parts._msg?.hdr;
  if (!(data instanceof Uint8Array) || typeof hdr !== "number") return fromNatsHeaders(msg.headers);
  if (hdr < 0) return null;
  const text = utf8Slice.call(data, 0, hdr);
  const out: Record<string, string> = {};
  // The first line is the status line (`NATS/1.0` and an optional code): not a header.
  let at = text.indexOf(HEADER_LINE_END);
  while (at !== -1) {
    const start = at + HEADER_LINE_END.length;
    const end = text.indexOf(HEADER_LINE_END, start);
    const stop = end === -1 ? text.length : end;
    at = end;
    if (stop === start) continue;
    const colon = text.indexOf(":", start);
    if (colon === -1 || colon >= stop) continue;
    if (!plainLine(text, start, colon, stop)) return fromNatsHeaders(msg.headers);
    const name = text.slice(start, colon);
    if (!Object.prototype.hasOwnProperty.call(out, name)) out[name] = text.slice(colon + 1, stop).trim();
  }
  return out;
}

/** True when nats.js takes the line as it is: the name `!`…`~` without `:`, no CR or LF in the value. */
function plainLine(text: string, start: number, colon: number, stop: number): boolean {
  for (let i = start; i < colon; i++) {
    const c = text.charCodeAt(i);
    if (c < 33 || c > 126) return false;
  }
  for (let i = colon + 1; i < stop; i++) {
    const c = text.charCodeAt(i);
    if (c === 13 || c === 10) return false;
  }
  return true;
}

/** The `$JS.ACK.` reply subject's prefix; the delivery count is its 5th token (9 tokens) or 7th (11 or more). */
const ACK_PREFIX = "$JS.ACK.";

/**
 * `m.info.deliveryCount` read from the ack subject's characters, without the token array and the
 * delivery-info object nats.js builds on first use of `info`. Anything unexpected goes to `info`.
 */
export function deliveryCountOf(m: JsMsg): number {
  const reply = (m as unknown as { reply?: unknown }).reply;
  if (typeof reply !== "string" || !reply.startsWith(ACK_PREFIX)) return m.info.deliveryCount;
  let tokens = 1;
  for (let i = 0; i < reply.length; i++) if (reply.charCodeAt(i) === 0x2e) tokens++;
  const index = tokens === 9 ? 4 : tokens >= 11 ? 6 : -1;
  if (index === -1) return m.info.deliveryCount;
  // Skip to the token.
  let start = 0;
  for (let seen = 0; seen < index; start++) if (reply.charCodeAt(start) === 0x2e) seen++;
  let count = 0;
  let i = start;
  for (; i < reply.length && i - start < 15; i++) {
    const c = reply.charCodeAt(i);
    if (c === 0x2e) break;
    if (c < 0x30 || c > 0x39) return m.info.deliveryCount;
    count = count * 10 + (c - 0x30);
  }
  if (i === start || (i < reply.length && reply.charCodeAt(i) !== 0x2e)) return m.info.deliveryCount;
  return count;
}

/** `receivedHeaders` of a JetStream message: of the core message it wraps (nats.js 3.x's `JsMsgImpl.msg`), else through `headers`. */
export function jsMessageHeaders(m: JsMsg): BusHeaders | null {
  const inner = (m as unknown as { msg?: unknown }).msg;
  return typeof inner === "object" && inner !== null ? receivedHeaders(inner as Msg) : fromNatsHeaders(m.headers);
}

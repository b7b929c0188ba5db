/**
 * The little of RFC 6455 a benchmark client needs: reading server frames (never masked) out of a TCP
 * stream without copying, writing masked client frames, and counting hub messages in a frame by
 * looking at a couple of bytes, never parsing JSON or MessagePack.
 */

export type Dialect = "signalr-json" | "signalr-msgpack" | "socketio" | "centrifugo";

/** Per-connection (and per-process) message counts. */
export interface Counts {
  /** notifications: SignalR Invocation messages, Socket.IO EVENT packets */
  notifications: number;
  /** keep-alive pings from the server */
  pings: number;
  /** anything else, including messages the counter did not recognise */
  other: number;
}

export function newCounts(): Counts {
  return { notifications: 0, pings: 0, other: 0 };
}

export const OPCODE_TEXT = 1;
export const OPCODE_BINARY = 2;
export const OPCODE_CLOSE = 8;
export const OPCODE_PING = 9;
export const OPCODE_PONG = 10;

export type FrameHandler = (opcode: number, buf: Buffer, start: number, end: number) => void;

/**
 * Splits a stream of server frames. Complete frames are handed over as (buffer, start, end) views of
 * the chunk they arrived in; only a frame split across chunks is copied.
 */
export class FrameReader {
  #pending: Buffer | null = null;

  push(chunk: Buffer, onFrame: FrameHandler): void {
    let buf = chunk;
    if (this.#pending !== null) {
      buf = Buffer.concat([this.#pending, chunk]);
      this.#pending = null;
    }
    let off = 0;
    const total = buf.length;
    while (total - off >= 2) {
      const b0 = buf[off]!;
      const b1 = buf[off + 1]!;
      let len = b1 & 0x7f;
      let header = 2;
      if (len === 126) {
        if (total - off < 4) break;
        len = buf.readUInt16BE(off + 2);
        header = 4;
      } else if (len === 127) {
        if (total - off < 10) break;
        len = buf.readUInt32BE(off + 2) * 2 ** 32 + buf.readUInt32BE(off + 6);
        header = 10;
      }
      if ((b1 & 0x80) !== 0) header += 4; // servers must not mask; tolerate it without unmasking
      if (total - off < header + len) break;
      onFrame(b0 & 0x0f, buf, off + header, off + header + len);
      off += header + len;
    }
    if (off < total) this.#pending = Buffer.from(buf.subarray(off));
  }

  get buffered(): number {
    return this.#pending?.length ?? 0;
  }
}

/** A client frame (FIN set), masked with the all-zero key, which leaves the payload as is. */
export function clientFrame(payload: Buffer, opcode = OPCODE_TEXT): Buffer {
  const len = payload.length;
  const header = len < 126 ? 6 : len < 65536 ? 8 : 14;
  const out = Buffer.alloc(header + len);
  out[0] = 0x80 | opcode;
  if (len < 126) {
    out[1] = 0x80 | len;
  } else if (len < 65536) {
    out[1] = 0x80 | 126;
    out.writeUInt16BE(len, 2);
  } else {
    out[1] = 0x80 | 127;
    out.writeUInt32BE(Math.floor(len / 2 ** 32), 2);
    out.writeUInt32BE(len >>> 0, 6);
  }
  payload.copy(out, header);
  return out;
}

const RS = 0x1e;
const DIGIT_1 = 0x31;
const DIGIT_6 = 0x36;
const COMMA = 0x2c;
/** offset of the type digit in `{"type":N` as the gateway writes it */
const JSON_TYPE_DIGIT = 8;

/** Counts the records of a SignalR JSON frame by their separators; the type digit tells Invocation from Ping. */
export function countJsonRecords(buf: Buffer, start: number, end: number, c: Counts): void {
  let record = start;
  while (record < end) {
    const rs = buf.indexOf(RS, record);
    if (rs === -1 || rs >= end) {
      c.other++; // an unterminated record: not something the gateway sends
      return;
    }
    const t = buf[record + JSON_TYPE_DIGIT];
    if (t === DIGIT_1 && buf[record + JSON_TYPE_DIGIT + 1] === COMMA) c.notifications++;
    else if (t === DIGIT_6) c.pings++;
    else c.other++;
    record = rs + 1;
  }
}

/** Counts the varint-length-prefixed messages of a SignalR MessagePack frame; each is an array whose first item is the type. */
export function countMsgpackRecords(buf: Buffer, start: number, end: number, c: Counts): void {
  let p = start;
  while (p < end) {
    let len = 0;
    let shift = 0;
    let b: number;
    do {
      b = buf[p++]!;
      len += (b & 0x7f) * 2 ** shift;
      shift += 7;
    } while ((b & 0x80) !== 0 && p < end);
    const arrayHeader = buf[p]!;
    const type = buf[p + 1];
    if (arrayHeader >= 0x90 && arrayHeader <= 0x9f && type === 1) c.notifications++;
    else if (arrayHeader >= 0x90 && arrayHeader <= 0x9f && type === 6) c.pings++;
    else c.other++;
    p += len;
  }
}

/** Socket.IO over Engine.IO v4 on WebSocket: what a text frame is. */
export type SocketIoFrame = "event" | "ping" | "open" | "connected" | "other";

export function classifySocketIo(buf: Buffer, start: number, end: number): SocketIoFrame {
  const a = buf[start];
  const b = end - start > 1 ? buf[start + 1] : -1;
  if (a === 0x34 && b === 0x32) return "event"; // 42[...]
  if (a === 0x32 && end - start === 1) return "ping"; // 2
  if (a === 0x30) return "open"; // 0{sid...}
  if (a === 0x34 && b === 0x30) return "connected"; // 40{sid...}
  return "other";
}

/** the channel every Centrifugo bench connection subscribes to (the bench publishes to it) */
export const CENTRIFUGO_CHANNEL = "global";

const NEWLINE = 0x0a;
const PUSH_PREFIX = Buffer.from('{"push":');

/**
 * Counts the replies of a Centrifugo JSON-protocol frame: one or more JSON objects separated by
 * newlines. `{"push":…}` is a publication (the only push a bench subscription gets), `{}` is the
 * server's ping (the client must answer `{}`), anything else (command replies) is "other".
 * Returns the number of pings, so the caller can answer each.
 */
export function countCentrifugo(buf: Buffer, start: number, end: number, c: Counts): number {
  let pings = 0;
  let line = start;
  while (line < end) {
    let nl = buf.indexOf(NEWLINE, line);
    if (nl === -1 || nl > end) nl = end;
    const len = nl - line;
    if (len >= PUSH_PREFIX.length && buf.compare(PUSH_PREFIX, 0, PUSH_PREFIX.length, line, line + PUSH_PREFIX.length) === 0)
      c.notifications++;
    else if (len === 2 && buf[line] === 0x7b && buf[line + 1] === 0x7d) {
      c.pings++;
      pings++;
    } else if (len > 0) c.other++;
    line = nl + 1;
  }
  return pings;
}

import type { HeaderList } from "../http/respond.js";

/**
 * Frames of request forwarding between gateway nodes (docs/protocol.md §12): a 4-byte big-endian length, that
 * many bytes of JSON metadata, then the body bytes unchanged (binary-safe: MessagePack bodies pass as is).
 */

/** The request headers a forwarded request carries (docs/protocol.md §12), lower-case as uWS reads them. */
const FORWARDED_HEADERS = [
  "accept",
  "authorization",
  "content-type",
  "cookie",
  "origin",
  "user-agent",
  "x-requested-with",
  "x-signalr-user-agent",
] as const;

/** The forwarded headers a request has; read before the handler's first await (uWS requests die there). */
export function readForwardedHeaders(req: { getHeader(name: string): string }): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = req.getHeader(name);
    if (value !== "") headers[name] = value;
  }
  return headers;
}

/** Relaying node → owner, on `subjects.forward(owner)`. */
export type ForwardMessage =
  | {
      k: "req";
      /** unique per relayed request; also names an SSE relay stream */
      rid: string;
      method: string;
      path: string;
      query: string;
      headers: Record<string, string>;
      /** the relaying node refused the body as over TIDINGS_MAX_TRANSPORT_BYTES; the owner answers as for its own */
      tooLarge?: true;
      /** SSE: the subject the owner streams the response to (absent: the answer is the request's reply) */
      stream?: string;
      /** WebSocket upgrade: the subject of the owner's frames once it accepted (answered 101) */
      ws?: string;
    }
  /** the client of request `rid` went away */
  | { k: "abort"; rid: string }
  /** relayed WebSocket `rid`: one inbound message (the body) */
  | { k: "frame"; rid: string }
  /** relayed WebSocket `rid` closed on the relaying node with `code` (1006: without close frame) */
  | { k: "wsclose"; rid: string; code: number };

/** Owner → relaying node: the answer (reply of the request, or on the stream subject, in order). */
export type AnswerMessage =
  /** status and headers; `final`: the body is the whole response, else the first bytes of a stream */
  | { k: "head"; status: number; headers: HeaderList; final: boolean }
  /** stream bytes (the body) */
  | { k: "data" }
  /** the stream completed */
  | { k: "end" }
  /** the stream is dropped without completing */
  | { k: "drop" }
  /** SSE: the owner took the request; the answer follows on the stream subject */
  | { k: "ack" }
  /** relayed WebSocket: one outbound message (the body) with its opcode */
  | { k: "frame"; binary: boolean }
  /** relayed WebSocket: the owner ends it with a close frame of `code` */
  | { k: "close"; code: number };

const EMPTY = new Uint8Array(0);

export function encodeFrame(meta: ForwardMessage | AnswerMessage, body: string | Uint8Array = EMPTY): Uint8Array {
  const head = Buffer.from(JSON.stringify(meta), "utf8");
  const bytes = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  const frame = Buffer.allocUnsafe(4 + head.byteLength + bytes.byteLength);
  frame.writeUInt32BE(head.byteLength, 0);
  head.copy(frame, 4);
  frame.set(bytes, 4 + head.byteLength);
  return frame;
}

/** Throws RangeError on a frame that is not one `encodeFrame` wrote. */
export function decodeFrame<T extends ForwardMessage | AnswerMessage>(data: Uint8Array): { meta: T; body: Buffer } {
  const frame = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (frame.byteLength < 4) throw new RangeError("forward frame shorter than its length prefix");
  const length = frame.readUInt32BE(0);
  if (4 + length > frame.byteLength) throw new RangeError("forward frame shorter than its metadata");
  const meta = JSON.parse(frame.subarray(4, 4 + length).toString("utf8")) as T;
  return { meta, body: frame.subarray(4 + length) };
}

const isString = (v: unknown): v is string => typeof v === "string";

/** Throws RangeError on a frame that is not a `ForwardMessage` as a gateway writes it (whatever else was published on the subject). */
export function decodeForwardMessage(data: Uint8Array): { meta: ForwardMessage; body: Buffer } {
  const decoded = decodeFrame<ForwardMessage>(data);
  if (!isForwardMessage(decoded.meta)) throw new RangeError("forward frame metadata is not a forwarded request");
  return decoded;
}

function isForwardMessage(m: unknown): m is ForwardMessage {
  if (typeof m !== "object" || m === null) return false;
  const r = m as Record<string, unknown>;
  if (!isString(r["rid"])) return false;
  switch (r["k"]) {
    case "abort":
    case "frame":
      return true;
    case "wsclose":
      return Number.isInteger(r["code"]);
    case "req": {
      const headers = r["headers"];
      return (
        isString(r["method"]) &&
        isString(r["path"]) &&
        isString(r["query"]) &&
        typeof headers === "object" &&
        headers !== null &&
        !Array.isArray(headers) &&
        Object.values(headers).every(isString) &&
        (r["tooLarge"] === undefined || r["tooLarge"] === true) &&
        (r["stream"] === undefined || isString(r["stream"])) &&
        (r["ws"] === undefined || isString(r["ws"]))
      );
    }
    default:
      return false;
  }
}

import type { HttpResponse } from "uWebSockets.js";

const REASONS: Record<number, string> = {
  200: "OK",
  202: "Accepted",
  204: "No Content",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  409: "Conflict",
  413: "Payload Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  500: "Internal Server Error",
  503: "Service Unavailable",
};

/** The status lines of REASONS, built once: every response writes one. */
const STATUS_LINES = new Map(Object.entries(REASONS).map(([status, reason]) => [Number(status), `${status} ${reason}`]));

/** Status line with the standard reason phrase: SignalR clients build their error text from it. */
export function statusLine(status: number): string {
  return STATUS_LINES.get(status) ?? String(status);
}

export type HeaderList = ReadonlyArray<readonly [string, string]>;

/**
 * Where a hub request's answer goes: a uWS response (`Reply`) or, for a request forwarded from another
 * node, that node's relay (`RemoteReply`, cluster/remote-reply.ts). The hub request handler and the HTTP
 * transports see only this, so a forwarded request runs exactly the code of a local one.
 */
export interface ResponseSink {
  /** true once the client went away or the response was written with `send`: later `send`s are skipped */
  readonly aborted: boolean;
  /** Runs `listener` once if the client goes away before the response is complete (never after `send`). */
  onAbort(listener: () => void): void;
  /** The whole response at once: status line with its reason phrase, headers, body. */
  send(status: number, body?: string | Uint8Array, headers?: HeaderList): void;
  text(status: number, body?: string): void;
  unauthorized(reason: string): void;
  /**
   * A streamed response: status, headers and `flush`, sent at once; then `write`, and `end` or `close`.
   * Every write is followed by `flush` (see `Reply.startStream`), so the body format must ignore it.
   */
  startStream(status: number, headers: HeaderList, flush: string): void;
  /** false: backpressure (the bytes are kept); `onWritable`'s handler runs once they drained. */
  write(bytes: Uint8Array): boolean;
  onWritable(handler: () => boolean): void;
  /** Completes a streamed response. */
  end(): void;
  /** Drops the connection without completing the response. */
  close(): void;
}

/** Longest error_description, in characters. */
const MAX_REASON_CHARS = 160;

/**
 * RFC 6750 challenge of a refused hub credential: the reason goes in WWW-Authenticate, as ASP.NET answers.
 * Reasons are fixed texts; still, the header is kept to one line of printable ASCII (RFC 6750 allows no
 * more in error_description) without quotes or backslashes, and bounded, whatever the reason holds.
 */
export function bearerChallenge(reason: string): HeaderList {
  const description = reason
    .replace(/[^\x20-\x7e]/g, "?")
    .replace(/["\\]/g, "'")
    .slice(0, MAX_REASON_CHARS);
  return [["WWW-Authenticate", `Bearer error="invalid_token", error_description="${description}"`]];
}

const JSON_HEADERS: HeaderList = [["Content-Type", "application/json"]];

/**
 * A uWS response that is safe to use after an await: once the client aborted, writes are skipped.
 * Every async handler must create one synchronously, before its first await.
 */
export class Reply implements ResponseSink {
  aborted = false;
  readonly #abortListeners: Array<() => void> = [];
  /** written after every streamed write (startStream) */
  #flush = "";
  constructor(
    readonly res: HttpResponse,
    readonly extraHeaders: ReadonlyArray<readonly [string, string]> = [],
  ) {
    res.onAborted(() => {
      this.aborted = true;
      for (const listener of this.#abortListeners.splice(0)) listener();
    });
  }

  /** Runs `listener` once if the client goes away before the response is complete (never after `send`). */
  onAbort(listener: () => void): void {
    this.#abortListeners.push(listener);
  }

  send(status: number, body: string | Uint8Array = "", headers: ReadonlyArray<readonly [string, string]> = []): void {
    if (this.aborted) return;
    this.aborted = true; // a response is written once
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      for (const [k, v] of this.extraHeaders) this.res.writeHeader(k, v);
      for (const [k, v] of headers) this.res.writeHeader(k, v);
      this.res.end(body);
    });
  }

  text(status: number, body = ""): void {
    this.send(status, body, body === "" ? [] : [["Content-Type", "text/plain"]]);
  }

  json(status: number, value: unknown, headers: ReadonlyArray<readonly [string, string]> = []): void {
    this.send(status, JSON.stringify(value), headers.length === 0 ? JSON_HEADERS : [JSON_HEADERS[0]!, ...headers]);
  }

  /** 401 for a refused hub credential: empty body, the reason in WWW-Authenticate (RFC 6750), as ASP.NET answers. */
  unauthorized(reason: string): void {
    this.send(401, "", bearerChallenge(reason));
  }

  /**
   * uWS frames each `write` as an HTTP chunk but sends a chunk's closing CRLF only in front of the next
   * chunk, so a client that hands on only complete chunks (urllib3, hand-written chunk parsers) would see
   * every write one write late. Here each write is followed, in the same cork, by `flush` as a chunk of its
   * own: the written chunk is complete on the wire at once, and only the filler after it waits.
   */
  startStream(status: number, headers: HeaderList, flush: string): void {
    this.#flush = flush;
    this.res.cork(() => {
      this.res.writeStatus(statusLine(status));
      for (const [k, v] of this.extraHeaders) this.res.writeHeader(k, v);
      for (const [k, v] of headers) this.res.writeHeader(k, v);
      this.res.write(flush);
    });
  }

  write(bytes: Uint8Array): boolean {
    let written = true;
    this.res.cork(() => {
      written = this.res.write(bytes);
      written = this.res.write(this.#flush) && written;
    });
    return written;
  }

  onWritable(handler: () => boolean): void {
    this.res.onWritable(() => handler());
  }

  end(): void {
    this.res.cork(() => void this.res.end());
  }

  close(): void {
    this.res.close();
  }

  /** `/api` error body (docs/contract.md §1). */
  apiError(
    status: number,
    error: string,
    message: string,
    extra: Record<string, unknown> = {},
    headers: ReadonlyArray<readonly [string, string]> = [],
  ): void {
    this.json(status, { error, message, ...extra }, headers);
  }
}

export class BodyTooLargeError extends Error {
  override readonly name = "BodyTooLargeError";
}

/** The client went away before its request body was complete; there is nobody left to answer. */
export class BodyAbortedError extends Error {
  override readonly name = "BodyAbortedError";
}

/**
 * Reads the whole request body, refusing more than `limit` bytes as soon as it is exceeded, and
 * rejecting when the request is aborted mid-body (so a caller awaiting it never hangs).
 * Must be called synchronously in the request handler, before its first await.
 */
export function readBody(reply: Reply, limit: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let settled = false;
    reply.onAbort(() => {
      if (settled) return;
      settled = true;
      reject(new BodyAbortedError("request aborted before its body was complete"));
    });
    receiveBody(
      reply,
      limit,
      (body, owned) => {
        settled = true;
        resolve(owned ? body : Buffer.from(body)); // a view is valid only during this call: copied
      },
      () => {
        settled = true;
        reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`));
      },
    );
  });
}

/**
 * The whole request body handed to `onBody` synchronously, inside uWS's data callback. A body of one
 * chunk (most requests) is not copied: `owned` is then false and `body` views memory uWS reuses once
 * the callback returns, so it must be read (or copied) before `onBody` returns. More than `limit` bytes: `onTooLarge` as
 * soon as they are exceeded, and the rest is ignored. Aborted mid-body: neither is called.
 * Must be called synchronously in the request handler, before its first await.
 */
export function receiveBody(reply: Reply, limit: number, onBody: (body: Buffer, owned: boolean) => void, onTooLarge: () => void): void {
  let chunks: Buffer[] | null = null;
  let size = 0;
  reply.res.onData((chunk, isLast) => {
    if (size > limit) return;
    size += chunk.byteLength;
    if (size > limit) return onTooLarge();
    if (isLast && chunks === null) return onBody(Buffer.from(chunk), false);
    (chunks ??= []).push(Buffer.from(chunk.slice(0))); // uWS reuses the chunk's memory after this callback
    if (isLast) onBody(Buffer.concat(chunks, size), true);
  });
}

/**
 * True when the peer's address is a loopback one: 127.0.0.0/8, ::1, or IPv4-mapped 127.0.0.0/8 (a
 * dual-stack listener). Read from the address's bytes (4 for IPv4, 16 for IPv6), no text formatted.
 */
export function isLoopback(res: HttpResponse): boolean {
  return isLoopbackAddress(new Uint8Array(res.getRemoteAddress()));
}

/** `isLoopback` on an address's bytes as uWS gives them. */
export function isLoopbackAddress(a: Uint8Array): boolean {
  if (a.length === 4) return a[0] === 127;
  if (a.length !== 16) return false;
  for (let i = 0; i < 10; i++) if (a[i] !== 0) return false;
  if (a[10] === 0xff && a[11] === 0xff) return a[12] === 127; // ::ffff:127.x.y.z
  return a[10] === 0 && a[11] === 0 && a[12] === 0 && a[13] === 0 && a[14] === 0 && a[15] === 1; // ::1
}

export const INTERNAL_ERROR_MESSAGE = "An unexpected error occurred.";

/** The 404 body for a connection id this cluster does not know (or no longer serves), as ASP.NET Core SignalR words it. */
export const NO_CONNECTION = "No Connection with that ID";

/**
 * Best-effort 500 on a response that may already be answered or aborted: empty on hub paths (as ASP.NET
 * answers), else with the /api error body.
 */
export function answerInternalError(res: HttpResponse, hubPath: boolean): void {
  try {
    res.cork(() => {
      res.writeStatus(statusLine(500));
      if (hubPath) return void res.end();
      res.writeHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ error: "internal", message: INTERNAL_ERROR_MESSAGE }));
    });
  } catch {
    // Answered or aborted already: uWS refuses a second response, and there is no one left to tell.
  }
}

/**
 * The end-to-end producer's HTTP client: keep-alive HTTP/1.1 connections over plain TCP sockets, at
 * most `maxConnections` to one server, one request at a time on each (no pipelining); a request that
 * finds every connection busy waits for the next free one, in order. It does what `node:http`'s
 * keep-alive `Agent` did for the producer (the requests the gateways see are the same) for a
 * fraction of its CPU: `node:http` cost ~60 µs per request, the costliest process on the path of a
 * box whose 2 cores the producer shares with what it measures.
 */
import { connect, type Socket } from "node:net";

const HEAD_END = Buffer.from("\r\n\r\n");

/** Reads one HTTP/1.1 response (status line, headers, `Content-Length` body) out of a TCP stream. */
export class ResponseReader {
  #buf: Buffer | null = null;

  /**
   * Adds `chunk`; returns the response once complete (`close`: the server will close the connection),
   * undefined while incomplete. Throws on what this client does not read (no `Content-Length`, bytes
   * after the response).
   */
  push(chunk: Buffer): { status: number; close: boolean } | undefined {
    const buf = this.#buf === null ? chunk : Buffer.concat([this.#buf, chunk]);
    const headEnd = buf.indexOf(HEAD_END);
    if (headEnd === -1) {
      this.#buf = buf;
      return undefined;
    }
    const head = buf.toString("latin1", 0, headEnd);
    const length = /\r\ncontent-length:\s*(\d+)/i.exec(head);
    if (length === null) throw new Error(`HTTP response without Content-Length: ${head.slice(0, 200)}`);
    const total = headEnd + HEAD_END.length + Number(length[1]);
    if (buf.length < total) {
      this.#buf = buf;
      return undefined;
    }
    if (buf.length > total) throw new Error("bytes after the HTTP response (no request was pipelined)");
    this.#buf = null;
    return { status: Number(head.slice(9, 12)), close: /\r\nconnection:\s*close/i.test(head) };
  }
}

interface Request {
  bytes: string;
  resolve(status: number): void;
  reject(error: Error): void;
}

class Connection {
  readonly socket: Socket;
  readonly #reader = new ResponseReader();
  #current: Request | null = null;
  #idleTimer: NodeJS.Timeout | null = null;

  constructor(
    port: number,
    private readonly pool: HttpPool,
    private readonly idleMs: number,
  ) {
    this.socket = connect({ host: "127.0.0.1", port, noDelay: true });
    this.socket.on("data", (chunk: Buffer) => this.#data(chunk));
    this.socket.on("error", () => undefined); // 'close' follows
    this.socket.once("close", () => {
      if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
      this.pool.closed(this);
      this.#current?.reject(new Error("socket hang up"));
      this.#current = null;
    });
  }

  send(r: Request): void {
    if (this.#idleTimer !== null) clearTimeout(this.#idleTimer);
    this.#idleTimer = null;
    this.#current = r;
    this.socket.write(r.bytes, "latin1");
  }

  #data(chunk: Buffer): void {
    const r = this.#current;
    let answer: { status: number; close: boolean } | undefined;
    try {
      answer = this.#reader.push(chunk);
    } catch (error) {
      this.#current = null;
      r?.reject(error as Error);
      this.socket.destroy();
      return;
    }
    if (answer === undefined || r === null) return;
    this.#current = null;
    if (answer.close) this.socket.end();
    else {
      // Closed by this side before the server's idle close could race a request sent on it; taken out of
      // the idle list first, so no request is written to it between this end() and its 'close'.
      this.#idleTimer = setTimeout(() => {
        this.pool.retire(this);
        this.socket.end();
      }, this.idleMs);
      this.pool.free(this);
    }
    r.resolve(answer.status);
  }
}

/** Keep-alive connections to one server; `post` resolves with the response's status code. */
export class HttpPool {
  readonly #idle: Connection[] = [];
  readonly #waiting: Request[] = [];
  #open = 0;

  constructor(
    private readonly port: number,
    private readonly maxConnections: number,
    private readonly idleMs: number,
  ) {}

  post(path: string, contentType: string, body: string): Promise<number> {
    const bytes =
      `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1:${this.port}\r\nContent-Type: ${contentType}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`;
    return new Promise<number>((resolve, reject) => {
      const r: Request = { bytes, resolve, reject };
      // the most recently freed connection first, as node:http's Agent schedules ("lifo")
      const c = this.#idle.pop();
      if (c !== undefined) c.send(r);
      else if (this.#open < this.maxConnections) {
        this.#open++;
        new Connection(this.port, this, this.idleMs).send(r);
      } else this.#waiting.push(r);
    });
  }

  /** `c` finished its request: the next waiting request takes it, else it idles. */
  free(c: Connection): void {
    const next = this.#waiting.shift();
    if (next !== undefined) c.send(next);
    else this.#idle.push(c);
  }

  /** `c` is being closed by this side: no request may take it any more ('close' follows). */
  retire(c: Connection): void {
    const i = this.#idle.indexOf(c);
    if (i !== -1) this.#idle.splice(i, 1);
  }

  closed(c: Connection): void {
    this.#open--;
    this.retire(c);
    // a waiting request gets a new connection in place of the closed one
    const next = this.#waiting.shift();
    if (next !== undefined) {
      this.#open++;
      new Connection(this.port, this, this.idleMs).send(next);
    }
  }

  destroy(): void {
    for (const c of this.#idle.splice(0)) c.socket.destroy();
  }
}

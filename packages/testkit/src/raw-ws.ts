import WebSocket from "ws";

export interface RawFrame {
  data: Buffer;
  binary: boolean;
}

/**
 * A hand-written WebSocket client for wire-level tests: sends exact bytes and records every frame
 * and the close code, so a test can assert what a stock client would hide.
 */
export class RawWs {
  readonly frames: RawFrame[] = [];
  closeCode: number | null = null;
  closeReason = "";
  readonly #ws: WebSocket;
  readonly opened: Promise<void>;
  readonly closed: Promise<number>;

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.on("message", (data: Buffer, binary: boolean) => void this.frames.push({ data: Buffer.from(data), binary }));
    this.opened = new Promise((resolve, reject) => {
      ws.once("open", () => resolve());
      ws.once("unexpected-response", (_req, res) => reject(new Error(`unexpected response ${res.statusCode}`)));
      ws.once("error", reject);
    });
    this.closed = new Promise((resolve) =>
      ws.once("close", (code: number, reason: Buffer) => {
        this.closeCode = code;
        this.closeReason = reason.toString();
        resolve(code);
      }),
    );
    this.opened.catch(() => undefined);
  }

  static async open(url: string, headers: Record<string, string> = {}): Promise<RawWs> {
    const raw = new RawWs(new WebSocket(url, { headers }));
    await raw.opened;
    return raw;
  }

  /** Opens expecting refusal; resolves with the HTTP status and body of the refused upgrade. */
  static refused(
    url: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; body: string; headers: Record<string, string | string[] | undefined> }> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { headers });
      ws.once("open", () => reject(new Error("upgrade unexpectedly succeeded")));
      ws.once("unexpected-response", (_req, res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      });
      ws.once("error", () => undefined);
    });
  }

  send(data: string | Uint8Array, binary = typeof data !== "string"): void {
    this.#ws.send(data, { binary });
  }

  ping(payload: Buffer): Promise<Buffer> {
    return new Promise((resolve) => {
      this.#ws.once("pong", (data: Buffer) => resolve(data));
      this.#ws.ping(payload);
    });
  }

  /** Text of every frame so far, concatenated. */
  text(): string {
    return this.frames.map((f) => f.data.toString("utf8")).join("");
  }

  close(): void {
    this.#ws.close();
  }

  terminate(): void {
    this.#ws.terminate();
  }
}

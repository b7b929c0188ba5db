/**
 * The producer side of the HTTP-ingest harnesses: the orchestrator POSTs notification envelopes (JSON
 * arrays) to the server over keep-alive connections, fire and forget, and checks every answer was 202.
 * Its own CPU is not the server's and is not measured.
 */
import { Agent, request } from "node:http";
import { benchEnvelope } from "../payload.js";

export class HttpPoster {
  // Idle sockets are closed here after 5 s, before the server's 10 s idle timeout (uWS) can close one while
  // a request is being written on it: that race ended a POST with ECONNRESET when a socket sat idle that long.
  readonly #agent = new Agent({ keepAlive: true, maxSockets: 8, timeout: 5000 });
  #next = 1;
  #inFlight = 0;
  #failures = 0;
  #firstFailure = "";
  #idle: (() => void) | null = null;

  /**
   * @param perPost notifications per POST (1: one request per notification)
   * @param users one-receiver mode: notification i goes to users[i % users.length]
   */
  constructor(
    private readonly port: number,
    private readonly path: string,
    private readonly perPost: number,
    private readonly users?: readonly string[],
  ) {}

  /** Sends the next `n` notifications in ceil(n / perPost) POSTs. */
  post(n: number): void {
    for (let sent = 0; sent < n; sent += this.perPost) {
      const k = Math.min(this.perPost, n - sent);
      const envelopes = Array.from({ length: k }, () => {
        const i = this.#next++;
        return benchEnvelope(i, this.users === undefined ? undefined : this.users[(i - 1) % this.users.length]);
      });
      this.#send(JSON.stringify(envelopes));
    }
  }

  /** Resolves once every POST was answered; rejects when any was not 202. */
  async settle(): Promise<void> {
    if (this.#inFlight > 0) await new Promise<void>((resolve) => (this.#idle = resolve));
    if (this.#failures > 0) throw new Error(`${this.#failures} ingest POSTs failed, first: ${this.#firstFailure}`);
  }

  close(): void {
    this.#agent.destroy();
  }

  #send(body: string): void {
    this.#inFlight++;
    const done = (failure: string | null) => {
      if (failure !== null && this.#failures++ === 0) this.#firstFailure = failure;
      if (--this.#inFlight === 0 && this.#idle !== null) {
        this.#idle();
        this.#idle = null;
      }
    };
    const req = request(
      {
        host: "127.0.0.1",
        port: this.port,
        path: this.path,
        method: "POST",
        agent: this.#agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          done(res.statusCode === 202 ? null : `${res.statusCode}: ${Buffer.concat(chunks).toString("utf8").slice(0, 200)}`),
        );
        res.on("error", (err) => done(String(err)));
      },
    );
    req.on("error", (err) => done(String(err)));
    req.end(body);
  }
}

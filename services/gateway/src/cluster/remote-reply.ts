import { bearerChallenge, type HeaderList, type ResponseSink } from "../http/respond.js";
import type { AnswerMessage } from "./forward-codec.js";

/**
 * The owner's side of a forwarded request's response: every call becomes a frame to the relaying node,
 * which replays it on its client's response. It never reports backpressure: the relaying node holds the
 * client's socket and applies the slow-consumer limit there.
 */
export class RemoteReply implements ResponseSink {
  #aborted = false;
  #complete = false;
  readonly #abortListeners: Array<() => void> = [];

  constructor(
    private readonly emit: (frame: AnswerMessage, body?: string | Uint8Array) => void,
    private readonly onComplete: () => void,
  ) {}

  get aborted(): boolean {
    return this.#aborted || this.#complete;
  }

  /** The relaying node's client went away. */
  abort(): void {
    if (this.aborted) return;
    this.#aborted = true;
    this.onComplete();
    for (const listener of this.#abortListeners.splice(0)) listener();
  }

  onAbort(listener: () => void): void {
    this.#abortListeners.push(listener);
  }

  send(status: number, body: string | Uint8Array = "", headers: HeaderList = []): void {
    if (this.aborted) return;
    this.#completed();
    this.emit({ k: "head", status, headers, final: true }, body);
  }

  text(status: number, body = ""): void {
    this.send(status, body, body === "" ? [] : [["Content-Type", "text/plain"]]);
  }

  unauthorized(reason: string): void {
    this.send(401, "", bearerChallenge(reason));
  }

  startStream(status: number, headers: HeaderList, flush: string): void {
    if (this.aborted) return;
    this.emit({ k: "head", status, headers, final: false }, flush);
  }

  write(bytes: Uint8Array): boolean {
    if (!this.aborted) this.emit({ k: "data" }, bytes);
    return true;
  }

  onWritable(): void {
    return; // never backpressured (see the class comment)
  }

  end(): void {
    if (this.aborted) return;
    this.#completed();
    this.emit({ k: "end" });
  }

  close(): void {
    if (this.aborted) return;
    this.#completed();
    this.emit({ k: "drop" });
  }

  #completed(): void {
    this.#complete = true;
    this.#abortListeners.length = 0;
    this.onComplete();
  }
}

import type { ResponseSink } from "../http/respond.js";
import { TopicMembership, type JsTopics, type TopicSink } from "./js-topics.js";
import type { PolledTransport, TransportCapabilities } from "./transport.js";

/** Every poll response carries these (docs/protocol.md §3.4): no cache may answer a poll. */
const NO_CACHE: ReadonlyArray<readonly [string, string]> = [
  ["Cache-Control", "no-cache, no-store"],
  ["Pragma", "no-cache"],
  ["Expires", "Thu, 01 Jan 1970 00:00:00 GMT"],
];
const DATA_HEADERS: ReadonlyArray<readonly [string, string]> = [["Content-Type", "application/octet-stream"], ...NO_CACHE];
const TEXT_HEADERS: ReadonlyArray<readonly [string, string]> = [["Content-Type", "text/plain"], ...NO_CACHE];

/** Polls are the liveness: no hub Pings and no client timeout (docs/protocol.md §3.4, §5). */
const POLLING_CAPABILITIES: TransportCapabilities = Object.freeze({
  textOnly: false,
  keepAlive: false,
  canBeStateful: false,
  upstream: "post",
  downstream: "poll",
});

export interface LongPollingOptions {
  topics: JsTopics;
  /** Receives topic publishes for this connection (the connection sends them through `send`). */
  sink: TopicSink;
  /** No poll for `disconnectTimeoutMs`: the client is gone and the connection ends. */
  onGone(): void;
  /** An idle poll is answered empty after this long (TIDINGS_LONG_POLL_TIMEOUT_SECONDS). */
  pollTimeoutMs: number;
  /** A connection without a pending poll for this long is gone (TIDINGS_DISCONNECT_TIMEOUT_SECONDS). */
  disconnectTimeoutMs: number;
}

/**
 * Long-polling downstream (docs/protocol.md §3.4). Messages produced between polls wait here, complete, and
 * the next poll takes all of them in one body; `bufferedAmount` counts them, so the connection's
 * slow-consumer rule bounds what a client that stopped polling can pile up. After the connection
 * ended, what is still queued (its Close message) goes to the next poll, and every poll after that gets 204.
 */
export class LongPollingTransport implements PolledTransport {
  readonly kind = "LongPolling";
  readonly capabilities = POLLING_CAPABILITIES;
  readonly #options: LongPollingOptions;
  readonly #topics: TopicMembership;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  #poll: ResponseSink | null = null;
  /** the poll timeout while a poll is pending, else the disconnect timeout; none once ended */
  #timer: NodeJS.Timeout | null = null;
  #flushScheduled = false;
  #ended = false;

  /** Answers the connection's first poll at once and empty: clients discard its body (docs/protocol.md §3.4). */
  constructor(firstPoll: ResponseSink, options: LongPollingOptions) {
    this.#options = options;
    this.#topics = new TopicMembership(options.topics, options.sink);
    firstPoll.send(200, "", DATA_HEADERS);
    this.#armDisconnect();
  }

  /** A later poll: answered now when something is queued or the connection ended, else held until data or the poll timeout. */
  poll(reply: ResponseSink): void {
    if (reply.aborted) return; // its client left while the request was being authorized: nothing may be dequeued for it
    if (this.#poll !== null) this.#answer(204, "", TEXT_HEADERS); // superseded (not a 409)
    this.#clearTimer();
    this.#poll = reply;
    reply.onAbort(() => {
      if (this.#poll !== reply) return;
      this.#poll = null;
      this.#armDisconnect();
    });
    this.#settle();
    if (this.#poll !== null) this.#arm(this.#options.pollTimeoutMs, () => this.#answer(200, "", TEXT_HEADERS));
  }

  send(bytes: Uint8Array): boolean {
    if (this.#ended) return false;
    this.#queue.push(bytes);
    this.#queuedBytes += bytes.byteLength;
    // Everything sent in the same turn (a Completion and the notifications behind it) shares one response.
    if (this.#poll !== null && !this.#flushScheduled) {
      this.#flushScheduled = true;
      queueMicrotask(() => {
        this.#flushScheduled = false;
        this.#settle();
      });
    }
    return true;
  }

  subscribe(topic: string): void {
    if (!this.#ended) this.#topics.join(topic);
  }

  unsubscribe(topic: string): void {
    this.#topics.leave(topic);
  }

  get closed(): boolean {
    return this.#ended;
  }

  bufferedAmount(): number {
    return this.#queuedBytes;
  }

  /** The connection ended: keep what is queued (its Close) for the next poll, answer a pending poll now. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#clearTimer();
    this.#topics.leaveAll();
    this.#settle();
  }

  /** The client ended the connection (DELETE) or stopped polling: drop the queue and answer a pending poll 204. */
  terminate(): void {
    this.#queue = [];
    this.#queuedBytes = 0;
    this.end();
  }

  /** Answers the pending poll if there is something to say: queued messages (200), or the end (204). */
  #settle(): void {
    if (this.#poll === null) return;
    if (this.#queuedBytes > 0) {
      const body = Buffer.concat(this.#queue, this.#queuedBytes);
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#answer(200, body, DATA_HEADERS);
    } else if (this.#ended) {
      this.#answer(204, "", TEXT_HEADERS);
    }
  }

  #answer(status: number, body: string | Uint8Array, headers: ReadonlyArray<readonly [string, string]>): void {
    const reply = this.#poll;
    if (reply === null) return;
    this.#poll = null;
    reply.send(status, body, headers);
    this.#armDisconnect();
  }

  #armDisconnect(): void {
    if (this.#ended) return;
    this.#arm(this.#options.disconnectTimeoutMs, () => {
      this.terminate();
      this.#options.onGone();
    });
  }

  #arm(ms: number, fire: () => void): void {
    this.#clearTimer();
    this.#timer = setTimeout(fire, ms);
    this.#timer.unref();
  }

  #clearTimer(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

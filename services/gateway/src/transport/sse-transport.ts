import type { ResponseSink } from "../http/respond.js";
import { TopicMembership, type JsTopics, type TopicSink } from "./js-topics.js";
import type { Transport, TransportCapabilities } from "./transport.js";

/** Response headers of docs/protocol.md §3.3; X-Accel-Buffering keeps nginx-style proxies from buffering the stream. */
const SSE_HEADERS: ReadonlyArray<readonly [string, string]> = [
  ["Content-Type", "text/event-stream"],
  ["Cache-Control", "no-cache,no-store"],
  ["Pragma", "no-cache"],
  ["Content-Encoding", "identity"],
  ["X-Accel-Buffering", "no"],
];
const SSE_CAPABILITIES: TransportCapabilities = Object.freeze({
  textOnly: true,
  keepAlive: true,
  canBeStateful: false,
  upstream: "post",
  downstream: "push",
});
/**
 * An empty comment, which SSE readers skip. It opens the stream at once (the client's start() waits for
 * the EventSource `open` event) and follows every event as its own HTTP chunk, so the event's chunk is
 * complete on the wire at once even for clients that hand on whole chunks only.
 */
const FLUSH_COMMENT = ":\r\n";
const DATA_PREFIX = Buffer.from("data: ");
const EVENT_END = Buffer.from("\r\n\r\n");
/** How long an ended stream may take to drain a backlog before the socket is dropped (as WebSockets wait for the close frame). */
const END_GRACE_MS = 5000;

/**
 * Framed events by payload object. Fan-out hands the same bytes object to every subscriber, so a
 * notification is framed once however many SSE connections receive it.
 */
const framed = new WeakMap<Uint8Array, Uint8Array>();

/**
 * One SSE event holding `payload` (complete hub messages). Every line of a payload becomes a `data:`
 * line; hub JSON never contains a raw line feed (JSON.stringify escapes it, and MessagePack is refused
 * on SSE), so the whole payload is always a single `data:` line.
 */
function frameEvent(payload: Uint8Array): Uint8Array {
  let event = framed.get(payload);
  if (event === undefined) {
    event = Buffer.concat([DATA_PREFIX, payload, EVENT_END]);
    framed.set(payload, event);
  }
  return event;
}

export interface SseTransportOptions {
  topics: JsTopics;
  /** Receives topic publishes for this connection (the connection sends them through `send`). */
  sink: TopicSink;
  /** The client dropped the stream: the connection ends. */
  onGone(): void;
}

/**
 * Server-Sent Events downstream (docs/protocol.md §3.3) on a streamed response (uWS, or a relaying node's). Each
 * write is one event. Backpressure: once the response reports a write as backpressured (it keeps those
 * bytes), later messages wait in a JS queue and go out as one event when it reports writable again; `bufferedAmount`
 * counts both, so the connection's slow-consumer rule sees a reader that stopped reading.
 */
export class SseTransport implements Transport {
  readonly kind = "ServerSentEvents";
  readonly capabilities = SSE_CAPABILITIES;
  readonly #reply: ResponseSink;
  readonly #options: SseTransportOptions;
  readonly #topics: TopicMembership;
  #queue: Uint8Array[] = [];
  #queuedBytes = 0;
  /** size of the event uWS accepted while reporting backpressure: an upper bound of what it still holds */
  #heldByUws = 0;
  #blocked = false;
  #ending = false;
  #closed = false;
  #endTimer: NodeJS.Timeout | null = null;

  /** Starts the stream: status, headers and the opening comment, sent at once. */
  constructor(reply: ResponseSink, options: SseTransportOptions) {
    this.#reply = reply;
    this.#options = options;
    this.#topics = new TopicMembership(options.topics, options.sink);
    reply.onAbort(() => this.#gone());
    reply.onWritable(() => this.#writable());
    reply.startStream(200, SSE_HEADERS, FLUSH_COMMENT);
  }

  send(bytes: Uint8Array): boolean {
    if (this.#closed || this.#ending) return false;
    if (this.#blocked) {
      this.#queue.push(bytes);
      this.#queuedBytes += bytes.byteLength;
    } else {
      this.#write(frameEvent(bytes));
    }
    return true;
  }

  subscribe(topic: string): void {
    if (!(this.#closed || this.#ending)) this.#topics.join(topic);
  }

  unsubscribe(topic: string): void {
    this.#topics.leave(topic);
  }

  get closed(): boolean {
    return this.#closed || this.#ending;
  }

  bufferedAmount(): number {
    return this.#queuedBytes + this.#heldByUws;
  }

  /** Completes the response once everything queued is written; a reader that does not drain it within END_GRACE_MS is dropped. */
  end(): void {
    if (this.#closed || this.#ending) return;
    this.#ending = true;
    this.#topics.leaveAll();
    if (!this.#blocked) return this.#finish();
    this.#endTimer = setTimeout(() => this.#drop(), END_GRACE_MS);
    this.#endTimer.unref();
  }

  #write(event: Uint8Array): void {
    if (!this.#reply.write(event)) {
      this.#blocked = true;
      this.#heldByUws = event.byteLength;
    }
  }

  /** uWS drained what it held: send the queue as one event, and finish a pending end once nothing is left. */
  #writable(): boolean {
    if (this.#closed) return true;
    this.#blocked = false;
    this.#heldByUws = 0;
    if (this.#queue.length > 0) {
      const payload = Buffer.concat(this.#queue, this.#queuedBytes);
      this.#queue = [];
      this.#queuedBytes = 0;
      this.#write(frameEvent(payload));
    }
    if (this.#ending && !this.#blocked) this.#finish();
    return !this.#blocked;
  }

  #finish(): void {
    this.#closed = true;
    this.#clearEndTimer();
    this.#reply.end();
  }

  /** A backlog that did not drain in time: drop the socket (onAborted follows, which ends the connection if it had not ended). */
  #drop(): void {
    if (this.#closed) return;
    this.#reply.close();
  }

  #gone(): void {
    const wasClosed = this.#closed;
    this.#closed = true;
    this.#clearEndTimer();
    this.#queue = [];
    this.#queuedBytes = 0;
    this.#heldByUws = 0;
    this.#topics.leaveAll();
    if (!wasClosed) this.#options.onGone();
  }

  #clearEndTimer(): void {
    if (this.#endTimer !== null) clearTimeout(this.#endTimer);
    this.#endTimer = null;
  }
}

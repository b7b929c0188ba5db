import { randomBytes } from "node:crypto";
import { subjects, type Bus, type BusMessage } from "@tidings/contracts";
import { BodyAbortedError, BodyTooLargeError, NO_CONNECTION, type ResponseSink } from "../http/respond.js";
import { decodeFrame, encodeFrame, type AnswerMessage, type ForwardMessage } from "./forward-codec.js";
import { IdleTimer } from "./idle-timer.js";
import { SocketRelay } from "./socket-relay.js";

export interface ForwardRelayOptions {
  bus: Bus;
  nodeId: string;
  /** best-effort publish: a closed bus drops the frame, and the other side's own timeouts end what is left */
  publish: (subject: string, frame: Uint8Array) => void;
  forwardTimeoutMs: number;
  longPollTimeoutMs: number;
  streamIdleMs: number;
  maxBackpressureBytes: number;
}

/** A hub request that reached this node for a connection another node owns. */
export interface RelayedRequest {
  method: string;
  path: string;
  query: string;
  headers: Record<string, string>;
  /** POST: the body, read and size-checked here (started before the handler's first await) */
  body: Promise<Buffer> | null;
}

/**
 * The relaying side of forwarding: a node that received a hub request for a connection another node
 * owns sends it there and replays the owner's answer on its own client's response or socket.
 */
export class ForwardRelay {
  readonly #options: ForwardRelayOptions;
  /** how to drop each open relayed stream or socket when this node stops */
  readonly #streams = new Set<() => void>();

  constructor(options: ForwardRelayOptions) {
    this.#options = options;
  }

  /** Relays `request` to `owner` and answers `sink` with what the owner answers. */
  async relay(sink: ResponseSink, request: RelayedRequest, owner: string): Promise<void> {
    const sse = request.method === "GET" && (request.headers.accept ?? "").includes("text/event-stream");
    if (sse) return this.#relayStream(sink, request, owner);
    let body: Buffer | null = null;
    let tooLarge = false;
    if (request.body !== null) {
      try {
        body = await request.body;
      } catch (err) {
        if (err instanceof BodyAbortedError) return; // the body broke off: nothing to forward, nobody to answer
        if (!(err instanceof BodyTooLargeError)) throw err;
        tooLarge = true; // the owner answers 413 and ends the connection, as for a body it read itself
      }
    }
    const rid = newRid();
    const meta = forwardRequest(rid, request, request.method, tooLarge ? { tooLarge: true } : {});
    // A poll is held by the owner up to the long-poll timeout before it answers.
    const timeoutMs =
      request.method === "GET" ? this.#options.longPollTimeoutMs + this.#options.forwardTimeoutMs : this.#options.forwardTimeoutMs;
    sink.onAbort(() => this.#signalAbort(owner, rid));
    let answer: BusMessage;
    try {
      answer = await this.#options.bus.request(subjects.forward(owner), encodeFrame(meta, body ?? undefined), { timeoutMs });
    } catch {
      return sink.text(404, NO_CONNECTION); // no responders (owner gone), timeout, or this node's bus closed
    }
    const { meta: head, body: answerBody } = decodeFrame<AnswerMessage>(answer.data);
    if (head.k !== "head") throw new RangeError(`forwarded request answered with '${head.k}'`);
    sink.send(head.status, answerBody, head.headers);
  }

  /**
   * WebSocket upgrade with `id` on a non-owner (first attach after negotiate, or a stateful reattach): the
   * owner checks it and attaches; on its 101 the caller completes the upgrade and hands the socket to the
   * returned relay. Null: the refusal (or 404 when no owner answered) was sent on `sink`.
   */
  async relayUpgrade(sink: ResponseSink, request: RelayedRequest, owner: string): Promise<SocketRelay | null> {
    const { bus, nodeId, publish } = this.#options;
    const rid = newRid();
    const subject = subjects.relayStream(nodeId, rid);
    const relay = new SocketRelay(
      (meta, body) => publish(subjects.forward(owner), encodeFrame({ ...meta, rid }, body)),
      this.#options.streamIdleMs,
      this.#options.maxBackpressureBytes,
      () => {
        sub.unsubscribe();
        this.#streams.delete(drop);
      },
    );
    const drop = () => relay.drop();
    // Subscribed before the request goes out on the same bus connection, so no owner frame can miss it.
    const sub = bus.subscribe(subject, (msg) => {
      const { meta, body } = decodeFrame<AnswerMessage>(msg.data);
      relay.fromOwner(meta, body);
    });
    const meta = forwardRequest(rid, request, "GET", { ws: subject });
    let answer: BusMessage;
    try {
      answer = await bus.request(subjects.forward(owner), encodeFrame(meta), { timeoutMs: this.#options.forwardTimeoutMs });
    } catch {
      sub.unsubscribe();
      sink.text(404, NO_CONNECTION);
      return null;
    }
    const { meta: head, body } = decodeFrame<AnswerMessage>(answer.data);
    if (head.k !== "head" || head.status !== 101) {
      sub.unsubscribe();
      if (head.k === "head") sink.send(head.status, body, head.headers);
      return null;
    }
    this.#streams.add(drop);
    return relay;
  }

  /** Drops the streams and sockets this node relays (their owners see the client leave). */
  close(): void {
    for (const drop of [...this.#streams]) drop();
  }

  /**
   * SSE on a non-owner: subscribe to a fresh stream subject, then ask the owner to stream there. Frames on
   * one subject from one publisher arrive in order; the SUB precedes the request on this node's bus
   * connection, so the owner's first frame cannot miss it.
   */
  async #relayStream(sink: ResponseSink, request: RelayedRequest, owner: string): Promise<void> {
    const { bus, nodeId, streamIdleMs, maxBackpressureBytes } = this.#options;
    const rid = newRid();
    const subject = subjects.relayStream(nodeId, rid);
    let started = false;
    let done = false;
    let blockedBytes = 0;
    let blocked = false;
    const finish = () => {
      done = true;
      sub.unsubscribe();
      idle.clear();
      this.#streams.delete(dropRelay);
    };
    /** This side gives up on the stream: the client's response is dropped and the owner told its client left. */
    const dropRelay = () => {
      if (done) return;
      finish();
      this.#signalAbort(owner, rid);
      if (started) sink.close();
      else sink.text(404, NO_CONNECTION);
    };
    const idle = new IdleTimer(streamIdleMs, dropRelay);
    const sub = bus.subscribe(subject, (msg) => {
      if (done) return;
      idle.arm();
      const { meta, body } = decodeFrame<AnswerMessage>(msg.data);
      switch (meta.k) {
        case "head":
          if (meta.final) {
            finish();
            return sink.send(meta.status, body, meta.headers);
          }
          started = true;
          return sink.startStream(meta.status, meta.headers, body.toString());
        case "data":
          // The response keeps what it cannot send yet. The owner never sees this client's backpressure,
          // so the relay applies the slow-consumer limit to what piled up since the response blocked.
          if (!sink.write(body)) blocked = true;
          if (blocked) blockedBytes += body.byteLength;
          if (blockedBytes > maxBackpressureBytes) dropRelay();
          return;
        case "end":
          finish();
          return sink.end();
        case "drop":
          finish();
          return sink.close();
        case "ack":
        case "frame":
        case "close":
          return;
      }
    });
    this.#streams.add(dropRelay);
    sink.onAbort(() => {
      if (done) return;
      finish();
      this.#signalAbort(owner, rid);
    });
    sink.onWritable(() => {
      blocked = false;
      blockedBytes = 0;
      return true;
    });
    idle.arm();
    const meta = forwardRequest(rid, request, request.method, { stream: subject });
    try {
      await bus.request(subjects.forward(owner), encodeFrame(meta), { timeoutMs: this.#options.forwardTimeoutMs });
    } catch {
      if (!started) dropRelay(); // the owner never took the request: 404 (a final answer already sent makes this a no-op)
    }
  }

  #signalAbort(owner: string, rid: string): void {
    this.#options.publish(subjects.forward(owner), encodeFrame({ k: "abort", rid }));
  }
}

/** A fresh request id; base64url, so it is one NATS subject token. */
function newRid(): string {
  return randomBytes(12).toString("base64url");
}

type RequestMessage = Extract<ForwardMessage, { k: "req" }>;

/** The request message of a relay: the client's request line and headers, and how the owner answers (`how`). */
function forwardRequest(
  rid: string,
  request: RelayedRequest,
  method: string,
  how: Pick<RequestMessage, "tooLarge" | "stream" | "ws">,
): RequestMessage {
  return { k: "req", rid, method, path: request.path, query: request.query, headers: request.headers, ...how };
}

import { randomBytes } from "node:crypto";
import { ownerOf, subjects, type Bus, type BusMessage, type BusSubscription } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { HubRequestHandler } from "../http/hub-request.js";
import { parseQuery } from "../http/query.js";
import { bearerChallenge, BodyAbortedError, BodyTooLargeError, type HeaderList, type ResponseSink } from "../http/respond.js";
import type { SocketLink } from "../transport/relayed-ws-transport.js";
import { decodeFrame, encodeFrame, type AnswerMessage, type ForwardMessage } from "./forward-codec.js";

const NO_CONNECTION = "No Connection with that ID";
const HUB_PATH = "/notifications";

export interface ForwarderOptions {
  bus: Bus;
  nodeId: string;
  log: Logger;
  /** the node's own handler of hub requests: runs every request forwarded to this node */
  handle: HubRequestHandler;
  /**
   * The node's own checks of a WebSocket upgrade with `id` that another node received: answers a refusal
   * on `sink` and returns null, or attaches the connection to a transport over `link` and returns where
   * the socket's inbound messages and close go.
   */
  upgrade(sink: ResponseSink, request: { query: string; authorization: string }, link: SocketLink): Promise<RelayedSocketHandlers | null>;
  /** TIDINGS_FORWARD_TIMEOUT_SECONDS: how long the owner may take to answer (or, for SSE, to take the request) */
  forwardTimeoutMs: number;
  /** TIDINGS_LONG_POLL_TIMEOUT_SECONDS: a forwarded poll may wait this long plus the forward timeout */
  longPollTimeoutMs: number;
  /**
   * A relayed SSE stream on which the owner sent nothing for this long is dropped: the owner is gone.
   * Must exceed both the keep-alive (the owner Pings an idle stream) and the handshake timeout.
   */
  streamIdleMs: number;
  /** TIDINGS_MAX_BACKPRESSURE_BYTES: a relayed stream whose client does not read more than this is dropped */
  maxBackpressureBytes: number;
}

/** The owner's side of a relayed WebSocket: what the relaying node's client sends, and its close. */
export interface RelayedSocketHandlers {
  message(bytes: Uint8Array): void;
  /** `code` as uWS reports it: 1006 for a socket lost without close frame */
  closed(code: number): void;
}

/** The relaying node's client socket, as the relay uses it (the app adapts a uWS WebSocket). */
export interface ClientSocket {
  send(bytes: Uint8Array, binary: boolean): void;
  end(code: number): void;
  /** drops the socket without close frame */
  close(): void;
  bufferedAmount(): number;
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
 * Cluster forwarding of hub requests (docs/protocol.md §12, no sticky sessions). The node whose id is encoded in
 * a connection's `id` owns it; any other node that receives a request for it relays it over the bus on
 * `tidings.v1.forward.<owner>`, where the owner runs its own hub request handler on it and answers:
 * polls, POSTs and DELETEs by request-reply (status, headers and body relayed verbatim), SSE as a stream
 * of frames on `tidings.v1.relay.<relayNode>.<rid>`. When the owner does not answer — gone, unknown, or
 * the id names no node — the client gets `404 No Connection with that ID`, as for an unknown id.
 */
export class Forwarder {
  readonly #options: ForwarderOptions;
  readonly #serving: BusSubscription;
  /** owner side: forwarded requests not yet answered in full, by rid (the relay may abort them) */
  readonly #remote = new Map<string, RemoteReply>();
  /** owner side: relayed WebSockets attached to local connections, by rid */
  readonly #sockets = new Map<string, RelayedSocketHandlers>();
  /** relay side: how to drop each open relayed stream or socket when this node stops */
  readonly #streams = new Set<() => void>();

  constructor(options: ForwarderOptions) {
    this.#options = options;
    this.#serving = options.bus.subscribe(subjects.forward(options.nodeId), (msg) => this.#serve(msg));
  }

  /** The node that owns the connection a hub request names, when that is another node; null: handle it here. */
  remoteOwner(method: string, query: string): string | null {
    if (method !== "GET" && method !== "POST" && method !== "DELETE") return null;
    const id = parseQuery(query).get("id");
    if (id === undefined || id === "") return null;
    const owner = ownerOf(id);
    // An id that names no node is unknown everywhere: the local handler answers 404 for it.
    return owner === null || owner === this.#options.nodeId ? null : owner;
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
    const meta: ForwardMessage = { k: "req", rid, method: request.method, path: request.path, query: request.query, headers: request.headers, ...(tooLarge ? { tooLarge: true as const } : {}) };
    // A poll is held by the owner up to the long-poll timeout before it answers.
    const timeoutMs = request.method === "GET" ? this.#options.longPollTimeoutMs + this.#options.forwardTimeoutMs : this.#options.forwardTimeoutMs;
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
    const { bus, nodeId } = this.#options;
    const rid = newRid();
    const subject = subjects.relayStream(nodeId, rid);
    const relay = new SocketRelay(
      (meta, body) => this.#publish(subjects.forward(owner), encodeFrame({ ...meta, rid }, body)),
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
    const meta: ForwardMessage = { k: "req", rid, method: "GET", path: request.path, query: request.query, headers: request.headers, ws: subject };
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

  /** Stops serving forwarded requests and drops the streams this node relays (their owners see the client leave). */
  close(): void {
    this.#serving.unsubscribe();
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
    let idle: NodeJS.Timeout | null = null;
    const finish = () => {
      done = true;
      sub.unsubscribe();
      if (idle !== null) clearTimeout(idle);
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
    const armIdle = () => {
      if (idle !== null) clearTimeout(idle);
      idle = setTimeout(dropRelay, streamIdleMs);
      idle.unref();
    };
    const sub = bus.subscribe(subject, (msg) => {
      if (done) return;
      armIdle();
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
    armIdle();
    const meta: ForwardMessage = { k: "req", rid, method: request.method, path: request.path, query: request.query, headers: request.headers, stream: subject };
    try {
      await bus.request(subjects.forward(owner), encodeFrame(meta), { timeoutMs: this.#options.forwardTimeoutMs });
    } catch {
      if (!started) dropRelay(); // the owner never took the request: 404 (a final answer already sent makes this a no-op)
    }
  }

  #signalAbort(owner: string, rid: string): void {
    this.#publish(subjects.forward(owner), encodeFrame({ k: "abort", rid }));
  }

  #publish(subject: string, frame: Uint8Array): void {
    try {
      this.#options.bus.publish(subject, frame);
    } catch {
      return; // this node's bus is closed: the other side's own timeouts end what is left
    }
  }

  /** Owner side of a relayed upgrade: the node's checks answer a refusal, or the socket is registered and accepted with 101. */
  #serveUpgrade(rid: string, target: string, reply: string, meta: { query: string; headers: Record<string, string> }): void {
    const link: SocketLink = {
      send: (bytes, binary) => this.#publish(target, encodeFrame({ k: "frame", binary }, bytes)),
      end: (code) => {
        this.#sockets.delete(rid); // its close report changes nothing now: the connection ended it
        this.#publish(target, encodeFrame({ k: "close", code }));
      },
    };
    const sink = new RemoteReply((frame, bytes) => this.#publish(reply, encodeFrame(frame, bytes)), () => undefined);
    this.#options
      .upgrade(sink, { query: meta.query, authorization: meta.headers.authorization ?? "" }, link)
      .then((handlers) => {
        if (handlers === null) return;
        this.#sockets.set(rid, handlers);
        sink.send(101);
      })
      .catch((err: unknown) => {
        this.#options.log.error({ err }, "forwarded upgrade failed");
        sink.text(500);
      });
  }

  /** Owner side: runs a forwarded request through the local handler, answering to the relaying node. */
  #serve(msg: BusMessage): void {
    const { meta, body } = decodeFrame<ForwardMessage>(msg.data);
    switch (meta.k) {
      case "abort":
        return this.#remote.get(meta.rid)?.abort();
      case "frame":
        return this.#sockets.get(meta.rid)?.message(body);
      case "wsclose": {
        const socket = this.#sockets.get(meta.rid);
        this.#sockets.delete(meta.rid);
        return socket?.closed(meta.code);
      }
      case "req":
        break;
    }
    const reply = msg.reply;
    if (reply === null) return;
    const bus = this.#options.bus;
    if (meta.ws !== undefined) return this.#serveUpgrade(meta.rid, meta.ws, reply, meta);
    const target = meta.stream ?? reply;
    if (meta.stream !== undefined) bus.publish(reply, encodeFrame({ k: "ack" }));
    const sink = new RemoteReply((frame, bytes) => bus.publish(target, encodeFrame(frame, bytes)), () => this.#remote.delete(meta.rid));
    this.#remote.set(meta.rid, sink);
    if (meta.path !== HUB_PATH) return sink.text(404);
    const readBody = (limit: number): Promise<Buffer> =>
      meta.tooLarge === true || body.byteLength > limit ? Promise.reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`)) : Promise.resolve(Buffer.from(body));
    this.#options
      .handle(sink, { method: meta.method, query: meta.query, accept: meta.headers.accept ?? "", authorization: meta.headers.authorization ?? "", readBody })
      .catch((err: unknown) => {
        this.#options.log.error({ err }, "forwarded hub request failed");
        sink.text(500);
      });
  }
}

/**
 * The relaying node's side of a relayed WebSocket. Owner frames that arrive before the upgrade completed
 * wait (a stateful reattach sends its Sequence at once). The owner Pings an idle connection, so silence
 * for `idleMs` means it is gone: the socket is dropped without close frame, and the client reconnects.
 */
export class SocketRelay {
  #socket: ClientSocket | null = null;
  #early: Array<{ bytes: Buffer; binary: boolean }> = [];
  #closeCode: number | null = null;
  #done = false;
  #idle: NodeJS.Timeout | null = null;

  constructor(
    private readonly toOwner: (meta: { k: "frame" } | { k: "wsclose"; code: number }, body?: Uint8Array) => void,
    private readonly idleMs: number,
    private readonly maxBackpressureBytes: number,
    private readonly onDone: () => void,
  ) {
    this.#armIdle();
  }

  /** The upgrade completed: this is the client's socket. */
  opened(socket: ClientSocket): void {
    if (this.#done) return socket.close();
    this.#socket = socket;
    for (const { bytes, binary } of this.#early.splice(0)) this.#send(bytes, binary);
    if (this.#closeCode !== null) socket.end(this.#closeCode);
  }

  /** An inbound message from the client. */
  message(bytes: Uint8Array): void {
    if (!this.#done) this.toOwner({ k: "frame" }, bytes);
  }

  /** The client's socket closed (`code` 1006: without close frame), or the upgrade never completed. */
  closed(code: number): void {
    if (this.#done) return;
    this.#done = true;
    this.#socket = null;
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.onDone();
    this.toOwner({ k: "wsclose", code });
  }

  /** This node gives up on the socket (stopping, owner silent, slow client): dropped without close frame. */
  drop(): void {
    if (this.#done) return;
    const socket = this.#socket;
    if (socket === null) return this.closed(1006);
    socket.close(); // uWS reports the close (1006), which tells the owner
  }

  fromOwner(meta: AnswerMessage, body: Buffer): void {
    if (this.#done) return;
    this.#armIdle();
    if (meta.k === "frame") {
      if (this.#socket === null) this.#early.push({ bytes: Buffer.from(body), binary: meta.binary });
      else this.#send(body, meta.binary);
    } else if (meta.k === "close") {
      this.#closeCode = meta.code;
      this.#socket?.end(meta.code);
    }
  }

  #send(bytes: Uint8Array, binary: boolean): void {
    const socket = this.#socket!;
    socket.send(bytes, binary);
    // The owner sees no backlog of this socket: the relay applies the slow-consumer limit.
    if (socket.bufferedAmount() > this.maxBackpressureBytes) this.drop();
  }

  #armIdle(): void {
    if (this.#idle !== null) clearTimeout(this.#idle);
    this.#idle = setTimeout(() => this.drop(), this.idleMs);
    this.#idle.unref();
  }
}

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

/** A fresh request id; base64url, so it is one NATS subject token. */
function newRid(): string {
  return randomBytes(12).toString("base64url");
}

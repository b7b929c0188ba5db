import { MessageType, type HubMessage, type HubProtocol, type TransportName } from "@tidings/protocol";
import { TopicMembership, type JsTopics, type TopicSink } from "./js-topics.js";
import type { Transport, TransportCapabilities } from "./transport.js";

export interface StatefulOptions {
  protocol: HubProtocol;
  topics: JsTopics;
  /** Receives topic publishes for this connection (the connection sends them through `send`, so they are numbered). */
  sink: TopicSink;
  /** TIDINGS_STATEFUL_BUFFER_BYTES: unacknowledged bytes kept for replay */
  bufferBytes: number;
  /** TIDINGS_DISCONNECT_TIMEOUT_SECONDS: how long a detached connection waits for its client to reattach */
  reattachWindowMs: number;
}

/** What the connection does with an inbound message (docs/protocol.md §7 "Receiving"). */
export type Admission = "process" | "skip" | "invalid-sequence";

/** What a socket close means for the connection: an old replaced socket, a lost one (reattach possible), or the end. */
export type SocketLoss = "ignore" | "detach" | "end";

/**
 * Counted messages are types 1–5 (docs/protocol.md §7). Decided from the bytes, which are always our own
 * encoders' output: JSON writes `{"type":N` first (docs/protocol.md §4.6, N one digit), MessagePack a varint length, a
 * fixarray header and the type as a positive fixint.
 */
function isCounted(bytes: Uint8Array, binary: boolean): boolean {
  let type: number;
  if (binary) {
    let i = 0;
    while (i < bytes.length && (bytes[i]! & 0x80) !== 0) i++;
    type = bytes[i + 2] ?? 0; // i: last prefix byte, i + 1: fixarray header
  } else {
    type = (bytes[8] ?? 0) - 0x30; // after `{"type":`
  }
  return type >= MessageType.Invocation && type <= MessageType.CancelInvocation;
}

/**
 * Stateful reconnect (docs/protocol.md §7) for a WebSocket connection: numbers every counted message sent,
 * keeps it until the client acknowledges it, and survives the loss of its socket for the reattach window.
 * Audiences are joined through JsTopics, not uWS topics, so that fan-out goes through `send` and is
 * numbered per connection; the published bytes are still shared, never re-encoded.
 */
export class StatefulTransport implements Transport {
  readonly kind: TransportName;
  readonly capabilities: TransportCapabilities;
  readonly #options: StatefulOptions;
  readonly #topics: TopicMembership;
  #socket: Transport | null;
  /** sent (or numbered while detached) and not yet acknowledged, oldest first */
  #buffer: Array<{ id: number; bytes: Uint8Array }> = [];
  #bufferedBytes = 0;
  /** counted messages waiting, unnumbered, for room in the buffer */
  #pending: Uint8Array[] = [];
  #pendingBytes = 0;
  /** number of the last counted message numbered */
  #sent = 0;
  /**
   * Counted messages are held back until the client's first message after the handshake: the JS client
   * numbers only what arrives after its message buffer exists (docs/protocol.md §7 "First counted message").
   */
  #held = true;
  /** inbound numbering */
  #next = 1;
  #latest = 0;
  #acked = 0;
  #detachedAt: number | null = null;
  #ended = false;

  constructor(socket: Transport, options: StatefulOptions) {
    this.kind = socket.kind;
    this.capabilities = socket.capabilities;
    this.#socket = socket;
    this.#options = options;
    this.#topics = new TopicMembership(options.topics, options.sink);
  }

  /** True while the connection waits for its client to reattach. */
  get detached(): boolean {
    return this.#socket === null;
  }

  get closed(): boolean {
    return this.#ended;
  }

  send(bytes: Uint8Array): boolean {
    if (this.#ended) return false;
    const binary = this.#options.protocol.binary;
    if (!isCounted(bytes, binary)) {
      this.#socket?.send(bytes, binary); // Ping, Close, Ack: never numbered, lost while detached
      return true;
    }
    if (this.#pending.length > 0 || !this.#fits(bytes)) {
      this.#pending.push(bytes);
      this.#pendingBytes += bytes.byteLength;
    } else {
      this.#number(bytes);
    }
    return true;
  }

  subscribe(topic: string): void {
    if (!this.#ended) this.#topics.join(topic);
  }

  unsubscribe(topic: string): void {
    this.#topics.leave(topic);
  }

  /**
   * Pending plus unacknowledged bytes count against TIDINGS_MAX_BACKPRESSURE_BYTES (docs/protocol.md §7), plus
   * what the socket has not written yet; that backlog overlaps the buffer, so this errs towards closing
   * a slow consumer early by at most the buffer size.
   */
  bufferedAmount(): number {
    return this.#pendingBytes + this.#bufferedBytes + (this.#socket?.bufferedAmount() ?? 0);
  }

  /** Final end: no reattach after this. */
  end(code: number): void {
    if (this.#ended) return;
    this.#ended = true;
    this.#socket?.end(code);
    this.#socket = null;
    this.#topics.leaveAll();
    this.#buffer = [];
    this.#pending = [];
    this.#bufferedBytes = this.#pendingBytes = 0;
  }

  /** Inbound bookkeeping for one message from the client, before the hub sees it. */
  admit(message: HubMessage): Admission {
    if (this.#held) this.#release();
    switch (message.type) {
      case MessageType.Ack:
        this.#acknowledge((message as { sequenceId: number }).sequenceId);
        return "skip";
      case MessageType.Sequence: {
        const s = (message as { sequenceId: number }).sequenceId;
        if (s < 1 || s > this.#next) return "invalid-sequence";
        this.#next = s; // replayed duplicates are then dropped below
        return "skip";
      }
      case MessageType.Invocation:
      case MessageType.StreamItem:
      case MessageType.Completion:
      case MessageType.StreamInvocation:
      case MessageType.CancelInvocation: {
        const id = this.#next++;
        if (id <= this.#latest) return "skip";
        this.#latest = id;
        return "process";
      }
      default:
        return "process";
    }
  }

  /** About once a second: Ack what arrived since the last Ack. False once the reattach window has passed. */
  tick(now: number): boolean {
    if (this.#socket === null) return this.#detachedAt === null || now - this.#detachedAt < this.#options.reattachWindowMs;
    if (this.#latest > this.#acked) {
      this.#acked = this.#latest;
      this.#socket.send(this.#options.protocol.encode({ type: MessageType.Ack, sequenceId: this.#latest }), this.#options.protocol.binary);
    }
    return true;
  }

  /**
   * One of this connection's WebSockets closed (`graceful`: with a close frame, or ended by the server).
   * Only the current socket counts, a socket a reattach replaced is ignored; losing it without a close
   * frame detaches, anything else is final.
   */
  socketClosed(graceful: boolean, now: number): SocketLoss {
    const socket = this.#socket;
    if (socket === null || !socket.closed) return "ignore";
    if (graceful) return "end";
    this.#socket = null;
    this.#detachedAt = now;
    return "detach";
  }

  /**
   * A new WebSocket for this connection (no negotiate, no handshake): it replaces the old socket, gets
   * `Sequence{oldest unacknowledged}` (`sent + 1` when none) first, always, then every unacknowledged
   * message byte-identical; pending and new messages follow as the client acknowledges.
   */
  reattach(socket: Transport): void {
    const old = this.#socket;
    this.#socket = socket;
    this.#detachedAt = null;
    old?.end(1000); // looked open but is replaced; not waited for
    const { protocol } = this.#options;
    socket.send(protocol.encode({ type: MessageType.Sequence, sequenceId: this.#buffer[0]?.id ?? this.#sent + 1 }), protocol.binary);
    for (const { bytes } of this.#buffer) socket.send(bytes, protocol.binary);
    this.#held = false; // the client numbers from the Sequence on
    this.#acked = 0; // the last Ack may have died with the old socket: repeat it on the new one (Acks are idempotent)
  }

  /** An empty buffer takes any one message, so a message larger than the buffer cannot wait forever. */
  #fits(bytes: Uint8Array): boolean {
    return this.#buffer.length === 0 || this.#bufferedBytes + bytes.byteLength <= this.#options.bufferBytes;
  }

  #number(bytes: Uint8Array): void {
    this.#buffer.push({ id: ++this.#sent, bytes });
    this.#bufferedBytes += bytes.byteLength;
    if (!this.#held) this.#socket?.send(bytes, this.#options.protocol.binary);
  }

  #release(): void {
    this.#held = false;
    for (const { bytes } of this.#buffer) this.#socket?.send(bytes, this.#options.protocol.binary);
  }

  /** Ack{n}: drop what it covers (n beyond what was sent covers everything), then number pending messages that now fit. */
  #acknowledge(n: number): void {
    let dropped = 0;
    while (dropped < this.#buffer.length && this.#buffer[dropped]!.id <= n)
      this.#bufferedBytes -= this.#buffer[dropped++]!.bytes.byteLength;
    if (dropped > 0) this.#buffer = this.#buffer.slice(dropped);
    while (this.#pending.length > 0 && this.#fits(this.#pending[0]!)) {
      const bytes = this.#pending.shift()!;
      this.#pendingBytes -= bytes.byteLength;
      this.#number(bytes);
    }
  }
}

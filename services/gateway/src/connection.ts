import {
  HANDSHAKE_OK,
  HubErrors,
  MessageType,
  PING_JSON,
  PING_MSGPACK,
  createHandshakeParser,
  encodeHandshakeError,
  getProtocol,
  HandshakeErrors,
  type FrameDecoder,
  type HubMessage,
  type HubProtocol,
  type InvocationMessage,
  type StreamInvocationMessage,
} from "@tidings/protocol";
import { HubMethodError } from "@tidings/contracts";
import type { Identity } from "./auth.js";
import type { Transport } from "./transport/transport.js";
import type { Hub } from "./hub.js";
import type { Logger } from "@tidings/observability";

export type ConnectionState = "negotiated" | "handshake" | "open" | "closed";

/** Why the server ends a connection; becomes the hub Close message. */
export interface CloseReason {
  error?: string;
  allowReconnect?: boolean;
}

export interface ConnectionLimits {
  maxMessageBytes: number;
  maxBackpressureBytes: number;
  handshakeTimeoutMs: number;
  keepaliveMs: number;
  clientTimeoutMs: number;
  detailedErrors: boolean;
}

/** Gateway services a connection calls back into. */
export interface ConnectionHost {
  readonly hub: Hub;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  /** Runs once per connection when it ends, whatever ended it. */
  onClosed(connection: HubConnection): void;
}

/**
 * One SignalR connection: handshake, inbound parsing, hub dispatch, keep-alive bookkeeping and close.
 * Transport-agnostic; owns no sockets. Invocations of one connection run one after another in arrival
 * order while Pings and other messages keep being read (wire spec §4.5).
 */
export class HubConnection {
  state: ConnectionState = "negotiated";
  protocol: HubProtocol | null = null;
  /** audience keys this connection is in */
  readonly audiences = new Set<string>();
  lastSentAt = 0;
  lastReceivedAt = 0;
  /** deadline for the handshake; 0 once done */
  handshakeDeadline = 0;
  /** the client timeout runs only after the client's first Ping (clients that never ping are never timed out) */
  clientPinged = false;
  readonly createdAt: number;

  #transport: Transport | null = null;
  #handshake: ReturnType<typeof createHandshakeParser> | null = null;
  #decoder: FrameDecoder | null = null;
  #invocations: Promise<void> = Promise.resolve();

  constructor(
    private readonly host: ConnectionHost,
    readonly id: string,
    /** the `id` a client uses on transport requests: the token (v1) or the connection id (v0, skipNegotiation) */
    readonly token: string,
    readonly negotiateVersion: 0 | 1 | null,
    readonly identity: Identity,
    now: number,
  ) {
    this.createdAt = now;
  }

  get transport(): Transport | null {
    return this.#transport;
  }

  /** Binds the transport; the handshake clock starts now. */
  attach(transport: Transport, now: number): void {
    this.#transport = transport;
    this.state = "handshake";
    this.handshakeDeadline = now + this.host.limits.handshakeTimeoutMs;
    this.lastReceivedAt = now;
    this.#handshake = createHandshakeParser(this.host.limits.maxMessageBytes);
  }

  /** Bytes from the client, in order. Never throws: bad input ends this connection only. */
  receive(chunk: Uint8Array, now: number): void {
    if (this.state === "closed") return;
    this.lastReceivedAt = now;
    if (this.state === "handshake") {
      const outcome = this.#handshake!.push(chunk);
      if (outcome.status === "incomplete") return;
      if (outcome.status === "error") return this.#failHandshake(outcome.error);
      if (outcome.version > 2) return this.#failHandshake(HandshakeErrors.unsupportedVersion(outcome.version, outcome.protocol));
      this.#handshake = null;
      this.handshakeDeadline = 0;
      this.protocol = getProtocol(outcome.protocol);
      this.#decoder = this.protocol.createDecoder(this.host.limits.maxMessageBytes);
      this.state = "open";
      // Membership takes effect before the client learns it is connected (contract §3).
      this.host.hub.onConnected(this);
      this.#transport!.send(HANDSHAKE_OK, this.protocol.binary);
      this.lastSentAt = now;
      if (outcome.rest.length === 0) return;
      chunk = outcome.rest;
    }
    const { messages, error } = this.#decoder!.push(chunk);
    for (const message of messages) {
      if (this.state !== "open") return;
      this.#handle(message, now);
    }
    if (error !== undefined) this.close({ error, allowReconnect: true });
  }

  /** Sends one complete server message, encoded for this connection's protocol. */
  sendMessage(bytes: Uint8Array, now: number): void {
    if (this.state !== "open" || this.protocol === null) return;
    this.#transport!.send(bytes, this.protocol.binary);
    this.lastSentAt = now;
    if (this.#transport!.bufferedAmount() > this.host.limits.maxBackpressureBytes) {
      this.close({ error: "Slow consumer", allowReconnect: true });
    }
  }

  /** Periodic check (about once a second): handshake timeout, keep-alive Ping, client timeout, slow consumer. */
  tick(now: number): void {
    const limits = this.host.limits;
    if (this.state === "handshake") {
      if (now >= this.handshakeDeadline) this.#failHandshake(HandshakeErrors.canceled);
      return;
    }
    if (this.state !== "open" || this.protocol === null) return;
    if (this.#transport!.bufferedAmount() > limits.maxBackpressureBytes) {
      return this.close({ error: "Slow consumer", allowReconnect: true });
    }
    if (this.clientPinged && now - this.lastReceivedAt >= limits.clientTimeoutMs) {
      return this.close({ error: "Client timeout", allowReconnect: true });
    }
    if (now - this.lastSentAt >= limits.keepaliveMs) {
      this.sendMessage(this.protocol.binary ? PING_MSGPACK : PING_JSON, now);
    }
  }

  /** Server-side end: hub Close message (when a protocol is known), then a 1000 close frame. Idempotent. */
  close(reason: CloseReason = {}): void {
    if (this.state === "closed") return;
    const transport = this.#transport;
    if (this.state === "open" && this.protocol !== null && transport !== null) {
      transport.send(
        this.protocol.encode({
          type: MessageType.Close,
          ...(reason.error === undefined ? {} : { error: reason.error }),
          ...(reason.allowReconnect === true ? { allowReconnect: true } : {}),
        }),
        this.protocol.binary,
      );
    }
    this.#end();
    transport?.end(1000);
  }

  /** The transport went away (client close frame, TCP loss, or after our own end). */
  transportClosed(): void {
    this.#end();
  }

  #end(): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.host.onClosed(this);
  }

  #failHandshake(error: string): void {
    if (this.state === "closed") return;
    // A handshake error always goes out as a Text frame (wire spec §3.2) and never carries `type`.
    this.#transport?.send(encodeHandshakeError(error), false);
    this.#end();
    this.#transport?.end(1000);
  }

  #handle(message: HubMessage, now: number): void {
    switch (message.type) {
      case MessageType.Invocation:
      case MessageType.StreamInvocation:
        return this.#enqueueInvocation(message as InvocationMessage | StreamInvocationMessage, now);
      case MessageType.Ping:
        this.clientPinged = true;
        return;
      case MessageType.Close:
        // Graceful client close: answer best effort and end (wire spec §6).
        return this.close();
      default:
        // StreamItem, Completion, CancelInvocation, Ack/Sequence on a non-stateful connection, unknown types.
        return;
    }
  }

  #enqueueInvocation(message: InvocationMessage | StreamInvocationMessage, now: number): void {
    this.#invocations = this.#invocations.then(() => this.#invoke(message, now));
  }

  async #invoke(message: InvocationMessage | StreamInvocationMessage, now: number): Promise<void> {
    if (this.state !== "open") return;
    const protocol = this.protocol!;
    const invocationId = message.invocationId;
    const reply = (completion: { kind: "void" } | { kind: "result"; result: unknown } | { kind: "error"; error: string }) => {
      if (invocationId === undefined || this.state !== "open") return;
      this.sendMessage(protocol.encode({ type: MessageType.Completion, invocationId, ...completion }), Date.now());
    };
    const target = message.target;
    const method = this.host.hub.find(target);
    if (method === undefined) return reply({ kind: "error", error: HubErrors.methodDoesNotExist(target) });
    const bindingProblem = method.bind(message.arguments);
    if (bindingProblem !== null) {
      return reply({ kind: "error", error: HubErrors.binding(target, this.host.limits.detailedErrors ? bindingProblem : undefined) });
    }
    if (message.type === MessageType.StreamInvocation) return reply({ kind: "error", error: HubErrors.nonStreaming(target) });
    const streams = message.streamIds?.length ?? 0;
    if (streams > 0) return reply({ kind: "error", error: HubErrors.streamsUnsupported(target, streams) });
    try {
      const result = await method.run(this, message.arguments, now);
      reply(result === undefined ? { kind: "void" } : { kind: "result", result });
    } catch (err) {
      if (err instanceof HubMethodError) return reply({ kind: "error", error: HubErrors.hubException(target, err.message) });
      this.host.log.error({ err, connectionId: this.id, target }, "hub method failed");
      const detail = this.host.limits.detailedErrors && err instanceof Error ? `${err.name}: ${err.message}` : undefined;
      reply({ kind: "error", error: HubErrors.internal(target, detail) });
    }
  }
}

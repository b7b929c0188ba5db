/*
 * Over 300 lines: one connection's state machine (negotiated → handshake → open → closed), its inbound
 * dispatch and its call queue share the connection's private state; split up, that state would have to
 * be exposed to every part.
 */
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
import { performance } from "node:perf_hooks";
import { CallLimiter, type CallLimits, type ThrottleReason } from "./call-limiter.js";
import type { Identity } from "./auth.js";
import type { Transport } from "./transport/transport.js";
import type { StatefulTransport } from "./transport/stateful-transport.js";
import type { Logger } from "@tidings/observability";
import type { DisconnectReason } from "./metrics.js";

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
  calls: CallLimits;
}

/** One client-callable method, as a connection dispatches it. */
export interface HubMethod {
  readonly name: string;
  /** null when the arguments bind, else the detailed binding problem (shown only with TIDINGS_DETAILED_ERRORS) */
  bind(args: readonly unknown[]): string | null;
  run(connection: HubConnection, args: readonly unknown[], now: number): Promise<unknown>;
}

/** The hub as a connection sees it; the hub depends on connections, never the reverse. */
export interface HubDispatch {
  /**
   * Joins the connection's automatic audiences. Null: done. A promise: the handshake answer must wait
   * for it (the cluster's routers acknowledging the membership); it never rejects.
   */
  onConnected(connection: HubConnection): Promise<void> | null;
  find(target: string): HubMethod | undefined;
}

/** Gateway services a connection calls back into. */
export interface ConnectionHost {
  readonly hub: HubDispatch;
  readonly limits: ConnectionLimits;
  readonly log: Logger;
  /** When fan-out last wrote to a topic this connection is subscribed to (0: never); such writes bypass sendMessage. */
  lastPublishedTo(connection: HubConnection): number;
  /** Runs once, right after the handshake succeeded. */
  onOpened(connection: HubConnection): void;
  /** Runs once per connection when it ends, whatever ended it. */
  onClosed(connection: HubConnection, reason: DisconnectReason): void;
  /** Outcome of one hub invocation; `method` is the canonical name or "unknown". */
  onInvoked(method: string, result: "ok" | "refused" | "binding_error" | "not_found" | "failed"): void;
  /** A call refused with `Throttled` (or dropped, when it expected no answer) without running. */
  onThrottled(reason: ThrottleReason): void;
  /** The stateful-reconnect layer over `socket`, which can be stateful. */
  statefulTransport(connection: HubConnection, socket: Transport): StatefulTransport;
}

/**
 * One SignalR connection: handshake, inbound parsing, hub dispatch, keep-alive bookkeeping and close.
 * Transport-agnostic; owns no sockets. Invocations of one connection run one after another in arrival
 * order while Pings and other messages keep being read (docs/protocol.md §4.5).
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
  /** negotiate asked for stateful reconnect and the server offered it (docs/protocol.md §7 conditions 1 and 2) */
  statefulOffered = false;

  #transport: Transport | null = null;
  /** set when stateful reconnect is active; then it is also `#transport` */
  #stateful: StatefulTransport | null = null;
  #handshake: ReturnType<typeof createHandshakeParser> | null = null;
  /** Between a valid handshake request and its answer while the membership is acknowledged: the client's bytes meanwhile. */
  #joining: Uint8Array[] | null = null;
  #joiningBytes = 0;
  #decoder: FrameDecoder | null = null;
  #invocations: Promise<void> = Promise.resolve();
  readonly #calls: CallLimiter;

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
    this.#calls = new CallLimiter(host.limits.calls, performance.now());
  }

  get transport(): Transport | null {
    return this.#transport;
  }

  /** True when a new WebSocket may take this open connection over (a stateful reattach) instead of getting 409. */
  get reattachable(): boolean {
    return this.#stateful !== null && this.state === "open";
  }

  /** Binds the transport; the handshake clock starts now. On a reattachable connection: the reattach, without handshake (docs/protocol.md §7). */
  attach(transport: Transport, now: number): void {
    if (this.reattachable) {
      this.#decoder = this.protocol!.createDecoder(this.host.limits.maxMessageBytes); // a message cut off with the old socket is gone
      this.lastReceivedAt = now;
      return this.#stateful!.reattach(transport);
    }
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
      if (this.#joining !== null) {
        // Held like a decoder's partial message: at most maxMessageBytes until the answer is out. A copy,
        // since a transport may reuse the chunk's memory once this call returns (uWS does).
        this.#joiningBytes += chunk.length;
        if (this.#joiningBytes > this.host.limits.maxMessageBytes) return this.#failHandshake("Message too large");
        return void this.#joining.push(chunk.slice());
      }
      const outcome = this.#handshake!.push(chunk);
      if (outcome.status === "incomplete") return;
      if (outcome.status === "error") return this.#failHandshake(outcome.error);
      if (outcome.version > 2) return this.#failHandshake(HandshakeErrors.unsupportedVersion(outcome.version, outcome.protocol));
      // A text-only transport (SSE) cannot carry MessagePack (docs/protocol.md §3.3, §4.1).
      if (outcome.protocol === "messagepack" && this.#transport!.capabilities.textOnly) {
        return this.#failHandshake(HandshakeErrors.binaryOnTextTransport(outcome.protocol));
      }
      this.#handshake = null;
      this.protocol = getProtocol(outcome.protocol);
      this.#decoder = this.protocol.createDecoder(this.host.limits.maxMessageBytes);
      const socket = this.#transport!;
      // Stateful reconnect needs all four conditions of docs/protocol.md §7; version 2 alone never turns it on.
      if (this.statefulOffered && outcome.version >= 2 && socket.capabilities.canBeStateful)
        this.#stateful = this.host.statefulTransport(this, socket);
      if (this.#stateful !== null) this.#transport = this.#stateful;
      // Membership takes effect before the client learns it is connected (docs/contract.md §3). In a cluster
      // that means every live router routes by it, so the answer waits (bounded) with the client's bytes held;
      // the handshake timeout still applies meanwhile.
      const joined = this.host.hub.onConnected(this);
      if (joined !== null) {
        this.#joining = outcome.rest.length === 0 ? [] : [outcome.rest];
        this.#joiningBytes = outcome.rest.length;
        void joined.then(() => this.#finishJoin(socket));
        return;
      }
      this.#open(socket, now);
      if (outcome.rest.length === 0) return;
      chunk = outcome.rest;
    }
    const { messages, error } = this.#decoder!.push(chunk);
    for (const message of messages) {
      if (this.state !== "open") return;
      const admission = this.#stateful?.admit(message) ?? "process";
      if (admission === "invalid-sequence") return this.close({ error: "Invalid sequence", allowReconnect: true });
      if (admission === "process") this.#handle(message, now);
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
    // A detached stateful connection ends, without disconnect logic twice, when its reattach window passes (docs/protocol.md §7).
    if (this.#stateful !== null && !this.#stateful.tick(now)) {
      this.#stateful.end(1000);
      return this.#end("transport_closed");
    }
    if (this.#transport!.bufferedAmount() > limits.maxBackpressureBytes) {
      return this.close({ error: "Slow consumer", allowReconnect: true });
    }
    // Detached: nobody to ping or to time out; the reattach window applies instead.
    if (this.#stateful?.detached === true) return;
    // A transport with its own liveness (long polling) gets no Ping and no client timeout (docs/protocol.md §3.4, §5).
    if (!this.#transport!.capabilities.keepAlive) return;
    if (this.clientPinged && now - this.lastReceivedAt >= limits.clientTimeoutMs) {
      return this.close({ error: "Client timeout", allowReconnect: true });
    }
    // Any message sent resets the keep-alive timer, notifications published to the connection's topics included.
    if (now - this.lastSentAt >= limits.keepaliveMs && now - this.host.lastPublishedTo(this) >= limits.keepaliveMs) {
      this.sendMessage(this.protocol.binary ? PING_MSGPACK : PING_JSON, now);
    }
  }

  /** Server-side end: hub Close message (when a protocol is known), then a 1000 close frame. Idempotent. */
  close(reason: CloseReason = {}, label: DisconnectReason = reasonLabel(reason)): void {
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
    this.#end(label);
    transport?.end(1000);
  }

  /** The transport went away (client close frame, TCP loss, or an oversized frame). */
  transportClosed(reason: DisconnectReason = "transport_closed"): void {
    if (this.#stateful !== null) {
      // A replaced socket changes nothing; a lost one detaches and waits for the reattach (docs/protocol.md §7 "Detach").
      if (this.#stateful.socketClosed(reason !== "transport_closed", Date.now()) !== "end") return;
      this.#stateful.end(1000);
    }
    this.#end(reason);
  }

  #end(reason: DisconnectReason): void {
    if (this.state === "closed") return;
    this.state = "closed";
    this.host.onClosed(this, reason);
  }

  /** The handshake answer; from here on the connection is open. */
  #open(socket: Transport, now: number): void {
    this.handshakeDeadline = 0;
    this.state = "open";
    socket.send(HANDSHAKE_OK, this.protocol!.binary); // on the socket itself: the handshake answer is never numbered
    this.lastSentAt = now;
    this.host.onOpened(this);
  }

  #finishJoin(socket: Transport): void {
    const held = this.#joining!;
    this.#joining = null;
    if (this.state !== "handshake") return; // closed (or timed out) while waiting
    this.#open(socket, Date.now());
    for (const chunk of held) this.receive(chunk, Date.now());
  }

  #failHandshake(error: string): void {
    if (this.state === "closed") return;
    // A handshake error always goes out as a Text frame (docs/protocol.md §3.2) and never carries `type`.
    this.#transport?.send(encodeHandshakeError(error), false);
    this.#end("handshake_failed");
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
        // Graceful client close: answer best effort and end (docs/protocol.md §6).
        return this.close({}, "client_close");
      default:
        // StreamItem, Completion, CancelInvocation, Ack/Sequence on a non-stateful connection, unknown types.
        return;
    }
  }

  /**
   * Admits a call to the queue, or refuses it with `Throttled` at once without running it: the client
   * gets its answer while its earlier calls are still queued, and a refusal costs no queue memory.
   */
  #enqueueInvocation(message: InvocationMessage | StreamInvocationMessage, now: number): void {
    const calls = this.#calls;
    const clock = performance.now();
    const refusal = calls.admit(clock);
    if (refusal !== null) return this.#throttle(message, refusal, clock, now);
    this.#invocations = this.#invocations.then(async () => {
      try {
        await this.#invoke(message, now);
      } finally {
        calls.completed();
      }
    });
  }

  #throttle(message: InvocationMessage | StreamInvocationMessage, reason: ThrottleReason, clock: number, now: number): void {
    this.host.onThrottled(reason);
    // Reconnecting would only restart the flood with a full bucket, so the client is told not to.
    if (this.#calls.refused(clock)) return this.close({ error: HUB_CALL_FLOOD, allowReconnect: false });
    if (message.invocationId === undefined) return; // a non-blocking call has no completion: dropped
    const limits = this.host.limits.calls;
    const detail =
      reason === "rate"
        ? `more than ${limits.burst} hub calls at once or ${limits.ratePerSecond} per second on this connection`
        : `more than ${limits.maxQueued} hub calls waiting on this connection`;
    const error = HubErrors.hubException(message.target, new HubMethodError("Throttled", detail).message);
    this.sendMessage(
      this.protocol!.encode({ type: MessageType.Completion, invocationId: message.invocationId, kind: "error", error }),
      now,
    );
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
    if (method === undefined) {
      this.host.onInvoked("unknown", "not_found");
      return reply({ kind: "error", error: HubErrors.methodDoesNotExist(target) });
    }
    const bindingProblem = method.bind(message.arguments);
    if (bindingProblem !== null) {
      this.host.onInvoked(method.name, "binding_error");
      return reply({ kind: "error", error: HubErrors.binding(target, this.host.limits.detailedErrors ? bindingProblem : undefined) });
    }
    if (message.type === MessageType.StreamInvocation) return reply({ kind: "error", error: HubErrors.nonStreaming(target) });
    const streams = message.streamIds?.length ?? 0;
    if (streams > 0) return reply({ kind: "error", error: HubErrors.streamsUnsupported(target, streams) });
    try {
      const result = await method.run(this, message.arguments, now);
      this.host.onInvoked(method.name, "ok");
      reply(result === undefined ? { kind: "void" } : { kind: "result", result });
    } catch (err) {
      if (err instanceof HubMethodError) {
        this.host.onInvoked(method.name, "refused");
        return reply({ kind: "error", error: HubErrors.hubException(target, err.message) });
      }
      this.host.onInvoked(method.name, "failed");
      this.host.log.error({ err, connectionId: this.id, target }, "hub method failed");
      const detail = this.host.limits.detailedErrors && err instanceof Error ? `${err.name}: ${err.message}` : undefined;
      reply({ kind: "error", error: HubErrors.internal(target, detail) });
    }
  }
}

/** Close error for a connection that kept calling after its calls were refused with `Throttled`. */
const HUB_CALL_FLOOD = "Too many hub calls";

const CLOSE_ERROR_LABELS: Readonly<Record<string, DisconnectReason>> = {
  [HUB_CALL_FLOOD]: "hub_call_flood",
  "Slow consumer": "slow_consumer",
  "Client timeout": "client_timeout",
  "Message too large": "message_too_large",
  "Invalid JSON": "invalid_message",
  "Invalid MessagePack": "invalid_message",
  "Invalid message": "invalid_message",
  "Invalid sequence": "invalid_message",
};

/** Metric label for a server-initiated close. */
function reasonLabel(reason: CloseReason): DisconnectReason {
  if (reason.error !== undefined) return CLOSE_ERROR_LABELS[reason.error] ?? "server_close";
  return reason.allowReconnect === true ? "drain" : "server_close";
}

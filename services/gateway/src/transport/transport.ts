import type { TransportName } from "@tidings/protocol";
import type { ResponseSink } from "../http/respond.js";

/**
 * What a transport can do. The connection and the request handlers decide by these, never by a
 * transport's name or class, so a new transport declares them and needs no special case elsewhere.
 */
export interface TransportCapabilities {
  /** Carries text only: a MessagePack handshake is refused (SSE). */
  readonly textOnly: boolean;
  /** Needs hub Pings and the client timeout; false where the transport has its own liveness (long polling). */
  readonly keepAlive: boolean;
  /** May carry stateful reconnect: a later socket can take the connection over (WebSockets). */
  readonly canBeStateful: boolean;
  /** How the client's messages arrive: on the transport itself, or as POSTs to the hub path. */
  readonly upstream: "socket" | "post";
  /** How messages reach the client: pushed on a socket or stream, or pulled by polls (which DELETE ends). */
  readonly downstream: "push" | "poll";
}

/**
 * What a hub connection needs from its socket. Only `transport/` knows uWebSockets.js; the hub logic
 * sees this interface, so other transports (SSE, long polling) and test fakes plug in unchanged.
 */
export interface Transport {
  /** Which SignalR transport this is: the metrics label, and what a second transport request is compared with. */
  readonly kind: TransportName;
  readonly capabilities: TransportCapabilities;
  /** Queues one or more complete hub messages. Returns false when the socket is already gone. */
  send(bytes: Uint8Array, binary: boolean): boolean;
  /** Joins a fan-out topic: bytes published to it reach this socket without per-socket encoding. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** True once the transport can carry nothing more: ended by the server or lost by the client. */
  readonly closed: boolean;
  /** Bytes accepted by `send`/topic publishes but not yet written to the kernel. */
  bufferedAmount(): number;
  /** Graceful end: flush what is queued, then a close frame with `code` (HTTP transports: complete the response). Idempotent. */
  end(code: number): void;
}

/** A transport whose client pulls messages with polls and ends it with DELETE (`downstream: "poll"`). */
export interface PolledTransport extends Transport {
  /** A poll: answered now when something is queued or the connection ended, else held. */
  poll(reply: ResponseSink): void;
  /** The client ended the connection or stopped polling: drop what is queued. */
  terminate(): void;
}

export function isPolled(transport: Transport | null): transport is PolledTransport {
  return transport?.capabilities.downstream === "poll";
}

/** A WebSocket, local or relayed. */
export const WEBSOCKET_CAPABILITIES: TransportCapabilities = Object.freeze({
  textOnly: false,
  keepAlive: true,
  canBeStateful: true,
  upstream: "socket",
  downstream: "push",
});

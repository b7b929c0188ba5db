import type { TransportName } from "@tidings/protocol";

/**
 * What a hub connection needs from its socket. Only `transport/` knows uWebSockets.js; the hub logic
 * sees this interface, so other transports (SSE, long polling) and test fakes plug in unchanged.
 */
export interface Transport {
  /** Which SignalR transport this is: decides keep-alive (none on long polling) and transfer formats (Text only on SSE). */
  readonly kind: TransportName;
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

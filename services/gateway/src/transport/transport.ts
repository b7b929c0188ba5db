/**
 * What a hub connection needs from its socket. Only `transport/` knows uWebSockets.js; the hub logic
 * sees this interface, so other transports (SSE, long polling) and test fakes plug in unchanged.
 */
export interface Transport {
  /** Queues one or more complete hub messages. Returns false when the socket is already gone. */
  send(bytes: Uint8Array, binary: boolean): boolean;
  /** Joins a fan-out topic: bytes published to it reach this socket without per-socket JS work. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Bytes accepted by `send`/topic publishes but not yet written to the kernel. */
  bufferedAmount(): number;
  /** Graceful end: flush what is queued, then a close frame with `code`. Idempotent. */
  end(code: number): void;
}

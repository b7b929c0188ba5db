import { TopicMembership, type JsTopics, type TopicSink } from "./js-topics.js";
import { WEBSOCKET_CAPABILITIES, type Transport } from "./transport.js";

/** The owner's end of a WebSocket that another node holds (cluster/forwarding.ts relays its frames). */
export interface SocketLink {
  /** One outbound WebSocket message with its opcode (binary: MessagePack). */
  send(bytes: Uint8Array, binary: boolean): void;
  /** Close frame with `code` on the relaying node's socket. */
  end(code: number): void;
}

/**
 * A WebSocket held by another gateway node, as a Transport of the owning node (docs/protocol.md §12). uWS topics
 * reach only local sockets, so fan-out comes through JsTopics, as for SSE and long polling. It reports
 * no backlog: the relaying node holds the socket's buffer and drops a client that does not read.
 */
export class RelayedWsTransport implements Transport {
  readonly kind = "WebSockets";
  readonly capabilities = WEBSOCKET_CAPABILITIES;
  readonly #topics: TopicMembership;
  #closed = false;

  constructor(
    private readonly link: SocketLink,
    topics: JsTopics,
    sink: TopicSink,
  ) {
    this.#topics = new TopicMembership(topics, sink);
  }

  /** The relaying node reported the socket closed. */
  markClosed(): void {
    this.#closed = true;
    this.#topics.leaveAll();
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(bytes: Uint8Array, binary: boolean): boolean {
    if (this.#closed) return false;
    this.link.send(bytes, binary);
    return true;
  }

  subscribe(topic: string): void {
    if (!this.#closed) this.#topics.join(topic);
  }

  unsubscribe(topic: string): void {
    this.#topics.leave(topic);
  }

  bufferedAmount(): number {
    return 0;
  }

  end(code: number): void {
    if (this.#closed) return;
    this.markClosed();
    this.link.end(code);
  }
}

import type { JsTopics, TopicSink } from "./js-topics.js";
import type { Transport } from "./transport.js";

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
  readonly #topics = new Set<string>();
  #closed = false;

  constructor(
    private readonly link: SocketLink,
    private readonly topics: JsTopics,
    private readonly sink: TopicSink,
  ) {}

  /** The relaying node reported the socket closed. */
  markClosed(): void {
    this.#closed = true;
    this.#leaveTopics();
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
    if (this.#closed || this.#topics.has(topic)) return;
    this.#topics.add(topic);
    this.topics.subscribe(topic, this.sink);
  }

  unsubscribe(topic: string): void {
    if (this.#topics.delete(topic)) this.topics.unsubscribe(topic, this.sink);
  }

  bufferedAmount(): number {
    return 0;
  }

  end(code: number): void {
    if (this.#closed) return;
    this.markClosed();
    this.link.end(code);
  }

  #leaveTopics(): void {
    for (const topic of this.#topics) this.topics.unsubscribe(topic, this.sink);
    this.#topics.clear();
  }
}

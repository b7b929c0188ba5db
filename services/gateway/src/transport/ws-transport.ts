import type { WebSocket } from "uWebSockets.js";
import { WEBSOCKET_CAPABILITIES, type Transport } from "./transport.js";

/** A uWS WebSocket as a Transport. After the socket closed every call is a no-op (uWS throws on a closed socket). */
export class UwsTransport<T> implements Transport {
  readonly kind = "WebSockets";
  readonly capabilities = WEBSOCKET_CAPABILITIES;
  #closed = false;
  constructor(private readonly ws: WebSocket<T>) {}

  markClosed(): void {
    this.#closed = true;
  }

  get closed(): boolean {
    return this.#closed;
  }

  send(bytes: Uint8Array, binary: boolean): boolean {
    if (this.#closed) return false;
    this.ws.send(bytes, binary);
    return true;
  }

  subscribe(topic: string): void {
    if (!this.#closed) this.ws.subscribe(topic);
  }

  unsubscribe(topic: string): void {
    if (!this.#closed) this.ws.unsubscribe(topic);
  }

  bufferedAmount(): number {
    return this.#closed ? 0 : this.ws.getBufferedAmount();
  }

  end(code: number): void {
    if (this.#closed) return;
    this.#closed = true;
    this.ws.end(code);
  }
}

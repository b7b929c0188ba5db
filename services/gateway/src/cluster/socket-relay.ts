import type { AnswerMessage } from "./forward-codec.js";
import { IdleTimer } from "./idle-timer.js";

/** The relaying node's client socket, as the relay uses it (the WebSocket endpoint adapts a uWS WebSocket). */
export interface ClientSocket {
  send(bytes: Uint8Array, binary: boolean): void;
  end(code: number): void;
  /** drops the socket without close frame */
  close(): void;
  bufferedAmount(): number;
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
  readonly #idle: IdleTimer;

  constructor(
    private readonly toOwner: (meta: { k: "frame" } | { k: "wsclose"; code: number }, body?: Uint8Array) => void,
    idleMs: number,
    private readonly maxBackpressureBytes: number,
    private readonly onDone: () => void,
  ) {
    this.#idle = new IdleTimer(idleMs, () => this.drop());
    this.#idle.arm();
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
    this.#idle.clear();
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
    this.#idle.arm();
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
}

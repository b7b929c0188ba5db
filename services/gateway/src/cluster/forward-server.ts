import type { BusMessage } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { HubRequestHandler } from "../http/hub-request.js";
import { BodyTooLargeError, type ResponseSink } from "../http/respond.js";
import type { SocketLink } from "../transport/relayed-ws-transport.js";
import { decodeForwardMessage, encodeFrame } from "./forward-codec.js";
import { RemoteReply } from "./remote-reply.js";

const HUB_PATH = "/notifications";

/** The owner's side of a relayed WebSocket: what the relaying node's client sends, and its close. */
export interface RelayedSocketHandlers {
  message(bytes: Uint8Array): void;
  /** `code` as uWS reports it: 1006 for a socket lost without close frame */
  closed(code: number): void;
}

/** Runs the owner's checks of a relayed WebSocket upgrade; see ForwarderOptions.upgrade. */
export type RelayedUpgrade = (
  sink: ResponseSink,
  request: { query: string; authorization: string },
  link: SocketLink,
) => Promise<RelayedSocketHandlers | null>;

export interface ForwardServerOptions {
  log: Logger;
  /** publish of the answers that must reach the relay while it waits (replies, stream frames) */
  send: (subject: string, frame: Uint8Array) => void;
  /** best-effort publish: a closed bus drops the frame, and the other side's own timeouts end what is left */
  publish: (subject: string, frame: Uint8Array) => void;
  handle: HubRequestHandler;
  upgrade: RelayedUpgrade;
}

/**
 * The owner side of forwarding: runs every hub request forwarded to this node through the node's own
 * handler, so a relayed request runs exactly the code of a local one, and answers to the relaying node.
 */
export class ForwardServer {
  readonly #options: ForwardServerOptions;
  /** forwarded requests not yet answered in full, by rid (the relay may abort them) */
  readonly #remote = new Map<string, RemoteReply>();
  /** relayed WebSockets attached to local connections, by rid */
  readonly #sockets = new Map<string, RelayedSocketHandlers>();

  constructor(options: ForwardServerOptions) {
    this.#options = options;
  }

  /** One message on this node's forward subject. */
  serve(msg: BusMessage): void {
    let decoded: ReturnType<typeof decodeForwardMessage>;
    try {
      decoded = decodeForwardMessage(msg.data);
    } catch (err) {
      // Not a gateway's frame: a waiting sender is answered 400 at once rather than left to its timeout; the bus logs the error.
      if (msg.reply !== null) this.#options.send(msg.reply, encodeFrame({ k: "head", status: 400, headers: [], final: true }));
      throw err;
    }
    const { meta, body } = decoded;
    switch (meta.k) {
      case "abort":
        return this.#remote.get(meta.rid)?.abort();
      case "frame":
        return this.#sockets.get(meta.rid)?.message(body);
      case "wsclose": {
        const socket = this.#sockets.get(meta.rid);
        this.#sockets.delete(meta.rid);
        return socket?.closed(meta.code);
      }
      case "req":
        break;
    }
    const reply = msg.reply;
    if (reply === null) return;
    const { send } = this.#options;
    if (meta.ws !== undefined) return this.#serveUpgrade(meta.rid, meta.ws, reply, meta);
    const target = meta.stream ?? reply;
    if (meta.stream !== undefined) send(reply, encodeFrame({ k: "ack" }));
    const sink = new RemoteReply(
      (frame, bytes) => send(target, encodeFrame(frame, bytes)),
      () => this.#remote.delete(meta.rid),
    );
    this.#remote.set(meta.rid, sink);
    if (meta.path !== HUB_PATH) return sink.text(404);
    const readBody = (limit: number): Promise<Buffer> =>
      meta.tooLarge === true || body.byteLength > limit
        ? Promise.reject(new BodyTooLargeError(`request body exceeds ${limit} bytes`))
        : Promise.resolve(Buffer.from(body));
    this.#options
      .handle(sink, {
        method: meta.method,
        query: meta.query,
        accept: meta.headers.accept ?? "",
        authorization: meta.headers.authorization ?? "",
        readBody,
      })
      .catch((err: unknown) => {
        this.#options.log.error({ err }, "forwarded hub request failed");
        sink.text(500);
      });
  }

  /** A relayed upgrade: the node's checks answer a refusal, or the socket is registered and accepted with 101. */
  #serveUpgrade(rid: string, target: string, reply: string, meta: { query: string; headers: Record<string, string> }): void {
    const { publish } = this.#options;
    const link: SocketLink = {
      send: (bytes, binary) => publish(target, encodeFrame({ k: "frame", binary }, bytes)),
      end: (code) => {
        this.#sockets.delete(rid); // its close report changes nothing now: the connection ended it
        publish(target, encodeFrame({ k: "close", code }));
      },
    };
    const sink = new RemoteReply(
      (frame, bytes) => publish(reply, encodeFrame(frame, bytes)),
      () => undefined,
    );
    this.#options
      .upgrade(sink, { query: meta.query, authorization: meta.headers.authorization ?? "" }, link)
      .then((handlers) => {
        if (handlers === null) return;
        this.#sockets.set(rid, handlers);
        sink.send(101);
      })
      .catch((err: unknown) => {
        this.#options.log.error({ err }, "forwarded upgrade failed");
        sink.text(500);
      });
  }
}

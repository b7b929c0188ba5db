import { ownerOf, subjects, type Bus, type BusSubscription } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { HubRequestHandler } from "../http/hub-request.js";
import { parseQuery } from "../http/query.js";
import type { ResponseSink } from "../http/respond.js";
import { ForwardRelay, type RelayedRequest } from "./forward-relay.js";
import { ForwardServer, type RelayedUpgrade } from "./forward-server.js";
import type { SocketRelay } from "./socket-relay.js";

export type { RelayedRequest } from "./forward-relay.js";
export type { RelayedSocketHandlers } from "./forward-server.js";
export type { ClientSocket, SocketRelay } from "./socket-relay.js";

export interface ForwarderOptions {
  bus: Bus;
  nodeId: string;
  log: Logger;
  /** the node's own handler of hub requests: runs every request forwarded to this node */
  handle: HubRequestHandler;
  /**
   * The node's own checks of a WebSocket upgrade with `id` that another node received: answers a refusal
   * on `sink` and returns null, or attaches the connection to a transport over `link` and returns where
   * the socket's inbound messages and close go.
   */
  upgrade: RelayedUpgrade;
  /** TIDINGS_FORWARD_TIMEOUT_SECONDS: how long the owner may take to answer (or, for SSE, to take the request) */
  forwardTimeoutMs: number;
  /** TIDINGS_LONG_POLL_TIMEOUT_SECONDS: a forwarded poll may wait this long plus the forward timeout */
  longPollTimeoutMs: number;
  /**
   * A relayed SSE stream or WebSocket on which the owner sent nothing for this long is dropped: the owner
   * is gone. Must exceed both the keep-alive (the owner Pings an idle stream) and the handshake timeout.
   */
  streamIdleMs: number;
  /** TIDINGS_MAX_BACKPRESSURE_BYTES: a relayed stream whose client does not read more than this is dropped */
  maxBackpressureBytes: number;
}

/**
 * Cluster forwarding of hub requests (docs/protocol.md §12, no sticky sessions). The node whose id is encoded in
 * a connection's `id` owns it; any other node that receives a request for it relays it over the bus on
 * `tidings.v1.forward.<owner>` (forward-relay.ts), where the owner runs its own hub request handler on it
 * and answers (forward-server.ts): polls, POSTs and DELETEs by request-reply (status, headers and body
 * relayed verbatim), SSE as a stream of frames on `tidings.v1.relay.<relayNode>.<rid>`, a WebSocket as
 * frames both ways (socket-relay.ts). When the owner does not answer — gone, unknown, or the id names no
 * node — the client gets `404 No Connection with that ID`, as for an unknown id.
 */
export class Forwarder {
  readonly #nodeId: string;
  readonly #serving: BusSubscription;
  readonly #relay: ForwardRelay;

  constructor(options: ForwarderOptions) {
    const { bus, nodeId, log } = options;
    this.#nodeId = nodeId;
    const publish = (subject: string, frame: Uint8Array): void => {
      try {
        bus.publish(subject, frame);
      } catch {
        return; // this node's bus is closed: the other side's own timeouts end what is left
      }
    };
    this.#relay = new ForwardRelay({ ...options, publish });
    const server = new ForwardServer({
      log,
      send: (subject, frame) => bus.publish(subject, frame),
      publish,
      handle: options.handle,
      upgrade: options.upgrade,
    });
    this.#serving = bus.subscribe(subjects.forward(nodeId), (msg) => server.serve(msg));
  }

  /** The node that owns the connection a hub request names, when that is another node; null: handle it here. */
  remoteOwner(method: string, query: string): string | null {
    if (method !== "GET" && method !== "POST" && method !== "DELETE") return null;
    const id = parseQuery(query).get("id");
    if (id === undefined || id === "") return null;
    const owner = ownerOf(id);
    // An id that names no node is unknown everywhere: the local handler answers 404 for it.
    return owner === null || owner === this.#nodeId ? null : owner;
  }

  /** Relays `request` to `owner` and answers `sink` with what the owner answers. */
  relay(sink: ResponseSink, request: RelayedRequest, owner: string): Promise<void> {
    return this.#relay.relay(sink, request, owner);
  }

  /**
   * WebSocket upgrade with `id` on a non-owner: the owner checks it and attaches; on its 101 the caller
   * completes the upgrade and hands the socket to the returned relay. Null: the refusal was sent on `sink`.
   */
  relayUpgrade(sink: ResponseSink, request: RelayedRequest, owner: string): Promise<SocketRelay | null> {
    return this.#relay.relayUpgrade(sink, request, owner);
  }

  /** Stops serving forwarded requests and drops the streams this node relays (their owners see the client leave). */
  close(): void {
    this.#serving.unsubscribe();
    this.#relay.close();
  }
}

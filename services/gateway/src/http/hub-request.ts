import type { TransportName } from "@tidings/protocol";
import type { ConnectionTable } from "../connection-table.js";
import type { HubConnection } from "../connection.js";
import type { JsTopics } from "../transport/js-topics.js";
import { LongPollingTransport } from "../transport/long-polling-transport.js";
import { isPolled } from "../transport/transport.js";
import { SseTransport } from "../transport/sse-transport.js";
import type { Admission } from "./admission.js";
import { parseQuery } from "./query.js";
import { BodyAbortedError, BodyTooLargeError, NO_CONNECTION, type ResponseSink } from "./respond.js";

const NO_CACHE_204: ReadonlyArray<readonly [string, string]> = [
  ["Content-Type", "text/plain"],
  ["Cache-Control", "no-cache, no-store"],
  ["Pragma", "no-cache"],
  ["Expires", "Thu, 01 Jan 1970 00:00:00 GMT"],
];

export interface HubRequestOptions {
  table: ConnectionTable;
  topics: JsTopics;
  admission: Admission;
  /** transports this node serves (implemented and in TIDINGS_TRANSPORTS) */
  transports: readonly TransportName[];
  /** TIDINGS_MAX_TRANSPORT_BYTES: largest POST body, and largest upstream buffered before a transport exists */
  maxTransportBytes: number;
  longPollTimeoutMs: number;
  disconnectTimeoutMs: number;
  /** true while the node drains: no new transport starts */
  draining(): boolean;
}

/**
 * What the handler reads from the request: from the uWS request (gone after the handler's first await),
 * or from a request forwarded by another node (cluster/forwarding.ts).
 */
export interface HubRequest {
  method: string;
  query: string;
  accept: string;
  authorization: string;
  /**
   * The whole body, at most `limit` bytes (else BodyTooLargeError; BodyAbortedError when it broke off).
   * Called synchronously by the handler, before its first await: uWS delivers a body only then.
   */
  readBody(limit: number): Promise<Buffer>;
}

export type HubRequestHandler = (reply: ResponseSink, request: HubRequest) => Promise<void>;

/** Upstream of one connection: POST bodies are appended in arrival order; those before a transport exists wait in `early`. */
interface Upstream {
  tail: Promise<void>;
  early: Buffer[];
  earlyBytes: number;
}

/**
 * Non-upgrade requests on the hub path (docs/protocol.md §3.1, §3.3–§3.5): SSE streams, long polls, upstream
 * POSTs and DELETE. Everything a handler needs from the uWS request is read before its first await.
 */
export function createHubRequestHandler(options: HubRequestOptions): (reply: ResponseSink, request: HubRequest) => Promise<void> {
  const { table, topics, admission } = options;
  const upstreams = new WeakMap<HubConnection, Upstream>();

  function upstreamOf(connection: HubConnection): Upstream {
    let upstream = upstreams.get(connection);
    if (upstream === undefined) upstreams.set(connection, (upstream = { tail: Promise.resolve(), early: [], earlyBytes: 0 }));
    return upstream;
  }

  /** Answers a GET that would start `wanted` on a connection that already has a transport; true when it did. */
  function refuseSecondTransport(reply: ResponseSink, connection: HubConnection, wanted: TransportName): boolean {
    const current = connection.transport;
    if (current === null) return false;
    if (current.kind === wanted) reply.send(409);
    else reply.text(400, "Cannot change transports mid-connection");
    return true;
  }

  /**
   * The checks of a request that starts a transport, across its await: enabled, not draining, no transport
   * yet, the negotiating user. Returns false when it answered.
   */
  async function mayStart(
    reply: ResponseSink,
    request: HubRequest,
    query: Map<string, string>,
    id: string,
    connection: HubConnection,
    wanted: TransportName,
  ): Promise<boolean> {
    if (!options.transports.includes(wanted)) {
      reply.text(404, `${wanted} transport not supported by this end point type`);
      return false;
    }
    if (refuseSecondTransport(reply, connection, wanted)) return false;
    if (options.draining()) {
      reply.text(503, "Server is shutting down");
      return false;
    }
    const identity = await admission.identify(reply, request.authorization, query);
    if (identity === null || reply.aborted) return false;
    if (identity.userId !== connection.identity.userId) {
      admission.refuseOtherUser(reply, identity);
      return false;
    }
    if (table.byTransportId(id) !== connection) {
      reply.text(404, NO_CONNECTION); // ended or expired while authenticating
      return false;
    }
    return !refuseSecondTransport(reply, connection, wanted);
  }

  /** A transport was just attached: the connection reads what was POSTed before it existed, in order. */
  function releaseEarlyUpstream(connection: HubConnection): void {
    const upstream = upstreams.get(connection);
    if (upstream === undefined || upstream.early.length === 0) return;
    const early = upstream.early;
    upstream.early = [];
    upstream.earlyBytes = 0;
    for (const chunk of early) connection.receive(chunk, Date.now());
  }

  /** Topic publishes reach the connection like its own sends: keep-alive clock and slow-consumer check included. */
  const sinkFor = (connection: HubConnection) => (bytes: Uint8Array) => connection.sendMessage(bytes, Date.now());

  async function startSse(
    reply: ResponseSink,
    request: HubRequest,
    query: Map<string, string>,
    id: string,
    connection: HubConnection,
  ): Promise<void> {
    if (!(await mayStart(reply, request, query, id, connection, "ServerSentEvents"))) return;
    const transport = new SseTransport(reply, { topics, sink: sinkFor(connection), onGone: () => connection.transportClosed() });
    connection.attach(transport, Date.now());
    releaseEarlyUpstream(connection);
  }

  async function poll(
    reply: ResponseSink,
    request: HubRequest,
    query: Map<string, string>,
    id: string,
    connection: HubConnection,
  ): Promise<void> {
    const current = connection.transport;
    if (current === null) {
      if (!(await mayStart(reply, request, query, id, connection, "LongPolling"))) return;
      const transport = new LongPollingTransport(reply, {
        topics,
        sink: sinkFor(connection),
        onGone: () => connection.transportClosed(),
        pollTimeoutMs: options.longPollTimeoutMs,
        disconnectTimeoutMs: options.disconnectTimeoutMs,
      });
      connection.attach(transport, Date.now());
      return releaseEarlyUpstream(connection);
    }
    if (!options.transports.includes("LongPolling")) return reply.text(404, "LongPolling transport not supported by this end point type");
    if (!isPolled(current)) return reply.text(400, "Cannot change transports mid-connection");
    if (await admission.authorizeLater(reply, connection, request.authorization, query)) current.poll(reply);
  }

  /** A poll on an ended connection: its last queued messages (its Close) if any, else 204 (docs/protocol.md §3.4). */
  async function pollEnded(
    reply: ResponseSink,
    request: HubRequest,
    query: Map<string, string>,
    ended: HubConnection | null,
  ): Promise<void> {
    const transport = ended?.transport ?? null;
    if (ended === null || !isPolled(transport)) return reply.send(204, "", NO_CACHE_204);
    if (await admission.authorizeLater(reply, ended, request.authorization, query)) transport.poll(reply);
  }

  async function post(reply: ResponseSink, request: HubRequest, query: Map<string, string>, connection: HubConnection): Promise<void> {
    if (connection.transport?.capabilities.upstream === "socket")
      return reply.text(405, "POST requests are not allowed for WebSocket connections.");
    // Both start now, before any await: uWS delivers the body only to a handler registered synchronously.
    const body = request.readBody(options.maxTransportBytes);
    const allowed = admission.authorizeLater(reply, connection, request.authorization, query);
    // Awaited in turn below; until then a rejection must not count as unhandled.
    body.catch(() => undefined);
    allowed.catch(() => undefined);
    const upstream = upstreamOf(connection);
    const turn = upstream.tail.then(() => append(reply, connection, upstream, body, allowed));
    upstream.tail = turn.catch(() => undefined);
    return turn;
  }

  /** One POST's turn: its bytes join the inbound stream after every earlier POST of the connection. */
  async function append(
    reply: ResponseSink,
    connection: HubConnection,
    upstream: Upstream,
    body: Promise<Buffer>,
    allowed: Promise<boolean>,
  ): Promise<void> {
    if (!(await allowed)) return;
    let bytes: Buffer;
    try {
      bytes = await body;
    } catch (err) {
      if (err instanceof BodyAbortedError) return; // the body broke off: nothing is appended, nobody is left to answer
      if (!(err instanceof BodyTooLargeError)) throw err;
      return tooLarge(reply, connection);
    }
    if (connection.state === "closed") return reply.send(404);
    if (connection.transport?.capabilities.upstream === "socket")
      return reply.text(405, "POST requests are not allowed for WebSocket connections.");
    if (connection.transport === null) {
      if (upstream.earlyBytes + bytes.byteLength > options.maxTransportBytes) return tooLarge(reply, connection);
      upstream.early.push(bytes);
      upstream.earlyBytes += bytes.byteLength;
    } else {
      connection.receive(bytes, Date.now());
    }
    reply.send(200);
  }

  /** docs/protocol.md §11: 413 to the POST, and the connection ends with Close `Message too large` on its downstream. */
  function tooLarge(reply: ResponseSink, connection: HubConnection): void {
    reply.text(413, `The request body exceeds ${options.maxTransportBytes} bytes.`);
    connection.close({ error: "Message too large", allowReconnect: true });
  }

  async function remove(reply: ResponseSink, request: HubRequest, query: Map<string, string>, connection: HubConnection): Promise<void> {
    const transport = connection.transport;
    if (!isPolled(transport)) return reply.text(400, "Cannot terminate this connection using the DELETE endpoint.");
    if (!(await admission.authorizeLater(reply, connection, request.authorization, query))) return;
    transport.terminate();
    connection.transportClosed("client_close");
    reply.send(202);
  }

  return async (reply, request) => {
    const method = request.method;
    if (method !== "GET" && method !== "POST" && method !== "DELETE") return reply.text(405);
    const query = parseQuery(request.query);
    const id = query.get("id");
    if (id === undefined || id === "") return reply.text(400, "Connection ID required");
    const connection = table.byTransportId(id);
    const sse = method === "GET" && request.accept.includes("text/event-stream");
    if (connection === undefined) {
      // An ended connection's tombstone (docs/protocol.md §3.1): poll 204 (after its queued Close), DELETE 202, POST 404 empty.
      const ended = table.endedByTransportId(id, Date.now());
      if (ended === undefined || sse) return reply.text(404, NO_CONNECTION);
      if (method === "DELETE") return reply.send(202);
      if (method === "POST") return reply.send(404);
      return pollEnded(reply, request, query, ended);
    }
    if (method === "POST") return post(reply, request, query, connection);
    if (method === "DELETE") return remove(reply, request, query, connection);
    return sse ? startSse(reply, request, query, id, connection) : poll(reply, request, query, id, connection);
  };
}

import type { TidingsConfig } from "@tidings/config";
import type { UnexpectedSource } from "@tidings/observability";
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from "uWebSockets.js";
import type { Identity } from "../auth.js";
import { readForwardedHeaders } from "../cluster/forward-codec.js";
import type { ClientSocket, Forwarder, RelayedSocketHandlers, SocketRelay } from "../cluster/forwarding.js";
import type { ConnectionTable } from "../connection-table.js";
import type { HubConnection } from "../connection.js";
import type { DisconnectReason } from "../metrics.js";
import type { Admission } from "../http/admission.js";
import type { Cors } from "../http/cors.js";
import { normalisePath, parseQuery } from "../http/query.js";
import { answerInternalError, NO_CONNECTION, Reply, type ResponseSink } from "../http/respond.js";
import type { JsTopics } from "./js-topics.js";
import { RelayedWsTransport, type SocketLink } from "./relayed-ws-transport.js";
import { UwsTransport } from "./ws-transport.js";

const NOT_SERVED = "WebSockets transport not supported by this end point type";
const SHUTTING_DOWN = "Server is shutting down";
/** Close error of a connection ended by an unexpected server error. */
const INTERNAL_CLOSE_ERROR = "Connection closed with an error.";

export interface WsEndpointDeps {
  app: TemplatedApp;
  config: TidingsConfig;
  cors: Cors;
  admission: Admission;
  table: ConnectionTable;
  topics: JsTopics;
  /** present in a cluster: upgrades for connections another node owns are relayed to it */
  forwarder: Forwarder | null;
  /** true while the node drains: no upgrade is accepted */
  draining(): boolean;
  reportUnexpected: (err: unknown, source: UnexpectedSource) => void;
}

export interface WsEndpoint {
  /** Owner side of an upgrade with `id` that another node received: the same checks, then a transport over the relay. */
  acceptRelayed(
    sink: ResponseSink,
    request: { query: string; authorization: string },
    link: SocketLink,
  ): Promise<RelayedSocketHandlers | null>;
}

/** A socket of a local connection, or one this node relays for a connection another node owns (docs/protocol.md §12). */
type SocketData = { connection: HubConnection; transport?: UwsTransport<SocketData>; relay?: undefined } | { relay: SocketRelay };

/**
 * The WebSocket endpoint on the hub path (docs/protocol.md §3.2): the upgrade (attach to a negotiated
 * connection, skipNegotiation, a stateful reattach, or a relay to the owning node) and the uWS socket
 * handlers, which feed a local connection or the relay.
 */
export function mountWsEndpoint(deps: WsEndpointDeps): WsEndpoint {
  const { app, config, cors, admission, table, topics, forwarder, reportUnexpected } = deps;

  /** The negotiated connection an upgrade with `id` attaches to; null when it answered the refusal. */
  function upgradeTarget(reply: ResponseSink, id: string, identity: Identity): HubConnection | null {
    const found = table.byTransportId(id);
    if (found === undefined) reply.text(404, NO_CONNECTION);
    else if (found.identity.userId !== identity.userId) admission.refuseOtherUser(reply, identity);
    else if (found.transport !== null && found.transport.kind !== "WebSockets") reply.text(400, "Cannot change transports mid-connection");
    else if (found.state !== "negotiated" && !found.reattachable) reply.send(409);
    else return found;
    return null;
  }

  /**
   * One inbound message of a connection's socket, local or relayed. A frame over TIDINGS_MAX_TRANSPORT_BYTES
   * ends the socket with 1009 first, so that a stateful connection sees its current socket closed and ends
   * instead of detaching. The parsers copy what they keep.
   */
  function receive(
    connection: HubConnection,
    transport: UwsTransport<SocketData> | RelayedWsTransport | undefined,
    bytes: Uint8Array,
  ): void {
    if (transport?.closed === true) return; // a socket we ended (e.g. replaced by a stateful reattach) feeds nothing more
    if (bytes.byteLength > config.maxTransportBytes) {
      transport?.end(1009);
      return connection.transportClosed("message_too_large");
    }
    connection.receive(bytes, Date.now());
  }

  function socketClosed(
    connection: HubConnection,
    transport: UwsTransport<SocketData> | RelayedWsTransport | undefined,
    code: number,
  ): void {
    transport?.markClosed();
    connection.transportClosed(closeCodeReason(code));
  }

  async function acceptRelayed(
    sink: ResponseSink,
    request: { query: string; authorization: string },
    link: SocketLink,
  ): Promise<RelayedSocketHandlers | null> {
    if (deps.draining()) {
      sink.text(503, SHUTTING_DOWN);
      return null;
    }
    if (!config.transports.includes("WebSockets")) {
      sink.text(404, NOT_SERVED);
      return null;
    }
    const params = parseQuery(request.query);
    const identity = await admission.identify(sink, request.authorization, params);
    if (identity === null) return null;
    const connection = upgradeTarget(sink, params.get("id") ?? "", identity);
    if (connection === null) return null;
    const transport = new RelayedWsTransport(link, topics, (bytes) => connection.sendMessage(bytes, Date.now()));
    connection.attach(transport, Date.now());
    return {
      message: (bytes) => receive(connection, transport, bytes),
      closed: (code) => socketClosed(connection, transport, code),
    };
  }

  async function upgrade(res: HttpResponse, req: HttpRequest, context: us_socket_context_t): Promise<void> {
    const path = normalisePath(req.getUrl());
    const query = req.getQuery() ?? "";
    const authorization = req.getHeader("authorization");
    const origin = req.getHeader("origin");
    const key = req.getHeader("sec-websocket-key");
    const extensions = req.getHeader("sec-websocket-extensions");
    const reply = new Reply(res, cors.headers(origin));
    if (path !== "/notifications") return reply.text(404);
    if (deps.draining()) return reply.text(503, SHUTTING_DOWN);
    if (origin !== "" && config.corsOrigins.length > 0 && !cors.isAllowed(origin)) return reply.text(403, "Origin not allowed");
    if (!config.transports.includes("WebSockets")) return reply.text(404, NOT_SERVED);
    const owner = forwarder === null ? null : forwarder.remoteOwner("GET", query);
    if (forwarder !== null && owner !== null) {
      const relay = await forwarder.relayUpgrade(
        reply,
        { method: "GET", path, query, headers: readForwardedHeaders(req), body: null },
        owner,
      );
      if (relay === null) return;
      if (reply.aborted) return relay.closed(1006); // the client left while the owner decided
      reply.aborted = true; // the upgrade below owns the response now
      res.cork(() => res.upgrade<SocketData>({ relay }, key, "", extensions, context));
      return;
    }
    const params = parseQuery(query);
    const identity = await admission.identify(reply, authorization, params);
    if (identity === null || reply.aborted) return;
    const id = params.get("id");
    let connection: HubConnection;
    if (id !== undefined && id !== "") {
      const found = upgradeTarget(reply, id, identity);
      if (found === null) return;
      connection = found;
    } else {
      if (admission.overUserLimit(identity)) return reply.text(429, "Too many connections for this user");
      connection = admission.open(identity, null); // skipNegotiation: the client never learns its id
    }
    reply.aborted = true; // the upgrade below owns the response now
    res.cork(() => res.upgrade<SocketData>({ connection }, key, "", extensions, context));
  }

  /**
   * Runs a socket callback; an unexpected error ends that connection alone, with a hub Close carrying an
   * error when it has a hub connection, else with close code 1011.
   */
  function guardSocket(ws: WebSocket<SocketData>, run: () => void): void {
    try {
      run();
    } catch (err) {
      reportUnexpected(err, "websocket");
      try {
        const data = ws.getUserData();
        if (data.relay === undefined && data.connection.state === "open") data.connection.close({ error: INTERNAL_CLOSE_ERROR });
        else ws.end(1011);
      } catch {
        // Already closed: nothing left to end.
      }
    }
  }

  app.ws<SocketData>("/*", {
    // Frames over TIDINGS_MAX_TRANSPORT_BYTES get close 1009 from `receive` (docs/protocol.md §11). uWS
    // itself drops (1006, no close frame) only beyond 4x that, which bounds what one frame may buffer.
    maxPayloadLength: config.maxTransportBytes * 4,
    // Hub keep-alive uses hub Pings and our own timers; uWS must not time sockets out on its own.
    idleTimeout: 0,
    sendPingsAutomatically: false,
    // Our tick closes slow consumers at the configured limit with a Close message; this hard cap only
    // drops sockets that keep growing past twice that before the next tick.
    maxBackpressure: config.maxBackpressureBytes * 2,
    closeOnBackpressureLimit: 1, // typed as number in this build's d.ts; read as a boolean by the addon
    upgrade: (res, req, context) => {
      upgrade(res, req, context).catch((err: unknown) => {
        reportUnexpected(err, "http");
        answerInternalError(res, true);
      });
    },
    open: (ws: WebSocket<SocketData>) =>
      guardSocket(ws, () => {
        const data = ws.getUserData();
        if (data.relay !== undefined) return data.relay.opened(clientSocket(ws));
        data.transport = new UwsTransport(ws);
        data.connection.attach(data.transport, Date.now());
      }),
    message: (ws: WebSocket<SocketData>, message: ArrayBuffer) =>
      guardSocket(ws, () => {
        const data = ws.getUserData();
        // uWS reuses `message` after this callback returns: the relay copies it into the bus frame at once.
        if (data.relay !== undefined) return data.relay.message(new Uint8Array(message));
        receive(data.connection, data.transport, new Uint8Array(message));
      }),
    close: (ws: WebSocket<SocketData>, code: number) => {
      try {
        const data = ws.getUserData();
        if (data.relay !== undefined) return data.relay.closed(code);
        socketClosed(data.connection, data.transport, code);
      } catch (err) {
        reportUnexpected(err, "websocket");
      }
    },
  });

  return { acceptRelayed };
}

/**
 * uWS reports 1006 when the socket ended without a close frame (TCP loss): a lost transport, which a
 * stateful connection survives. Any other code came in a client close frame (1005: one without a code),
 * a graceful end (docs/protocol.md §3.2).
 */
function closeCodeReason(code: number): DisconnectReason {
  return code === 1006 ? "transport_closed" : "client_close";
}

/** A relayed client's uWS socket as the relay uses it; the relay stops calling it once uWS reported the close. */
function clientSocket(ws: WebSocket<SocketData>): ClientSocket {
  return {
    send: (bytes, binary) => void ws.send(bytes, binary),
    end: (code) => ws.end(code),
    close: () => void ws.close(),
    bufferedAmount: () => ws.getBufferedAmount(),
  };
}

import { timingSafeEqual } from "node:crypto";
import { decodeIngestBody, MSGPACK_CONTENT_TYPE } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { GLOBAL_AUDIENCE, isValidNodeId, mintId, userAudience, validateEnvelopes, type Bus, type Notification, type NotificationStore } from "@tidings/contracts";
import { endSpan, Registry, reportUnexpected as report, startProcessSpan, startPublishSpan, traceHeaders, type Logger, type UnexpectedSource } from "@tidings/observability";
import { encodeNegotiateResponse, encodeNegotiateError, parseNegotiateQuery, type TransportName } from "@tidings/protocol";
import type { HttpRequest, HttpResponse, TemplatedApp, us_socket_context_t, WebSocket } from "uWebSockets.js";
import { AuthError, createAuthenticator, extractToken, type Identity } from "./auth.js";
import { HubConnection, type ConnectionHost, type ConnectionLimits } from "./connection.js";
import { ConnectionTable } from "./connection-table.js";

import { EncodeFailures } from "./encode-failures.js";
import { Fanout } from "./fanout.js";
import { Hub } from "./hub.js";
import { Cors } from "./http/cors.js";
import { parseQuery } from "./http/query.js";
import { BodyAbortedError, BodyTooLargeError, isLoopback, readBody, Reply, statusLine, type ResponseSink } from "./http/respond.js";
import { createTenantValidator } from "./tenant-validation.js";
import { createHubRequestHandler } from "./http/hub-request.js";
import { ingestMediaType, isLoopbackHost } from "./http/ingest-guard.js";
import { JsTopics } from "./transport/js-topics.js";
import { createGatewayMetrics, type DisconnectReason } from "./metrics.js";
import type { MembershipListener } from "./fanout.js";
import { createReadApi } from "./http/read-api.js";
import { createApiApp, listen, wrongListener, type Bound, type Listener } from "./http/listeners.js";
import { replayTo } from "./replay.js";
import { loadNativeUws } from "./transport/uws.js";
import { UwsTransport } from "./transport/ws-transport.js";
import { FORWARDED_HEADERS } from "./cluster/forward-codec.js";
import { Forwarder, type ClientSocket, type RelayedSocketHandlers, type SocketRelay } from "./cluster/forwarding.js";
import { RelayedWsTransport, type SocketLink } from "./transport/relayed-ws-transport.js";
import { StatefulTransport } from "./transport/stateful-transport.js";

/** Transports this build serves; negotiate offers the ones that are also enabled by TIDINGS_TRANSPORTS. */
const IMPLEMENTED_TRANSPORTS: readonly TransportName[] = ["WebSockets", "ServerSentEvents", "LongPolling"];
const MAX_INGEST_BODY_BYTES = 4 * 1024 * 1024;
const NO_CONNECTION = "No Connection with that ID";

/** Accepts validated notifications durably; rejects when they cannot be accepted (→ 503, nothing accepted). */
export type IngestSink = (notifications: readonly Notification[], traceHeaders: Readonly<Record<string, string>>) => Promise<void>;

export interface GatewayDeps {
  config: TidingsConfig;
  log: Logger;
  nodeId: string;
  /** where POST /api/notifications sends accepted notifications; absent → 503 */
  ingest?: IngestSink;
  /** Prometheus registry to register the gateway's instruments on (default: a private one) */
  registry?: Registry;
  /** Persisted notifications and read state: replay, MarkAs…, the read API. Absent → none of those. */
  store?: NotificationStore;
  /**
   * Delivers a read-state event to every connection of a user on every node. Default: this node's
   * connections only, which is complete in standalone mode.
   */
  publishUserEvent?: (userId: string, target: string, payload: unknown) => void;
  /** Cluster registry announcer: told of this node's audience memberships (first join / last leave). */
  membership?: MembershipListener;
  /**
   * The cluster bus. Present: hub requests for connections owned by another node are forwarded to it,
   * and this node serves the requests forwarded to it (docs/protocol.md §12). Absent (standalone): every
   * connection is local.
   */
  bus?: Bus;
}

export interface Gateway {
  /** Starts listening; resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Delivers a notification to local connections (once per audience and id within the dedupe window).
   * `traceHeaders` (W3C traceparent) links the `process` span to the producer's trace.
   */
  deliver(notification: Notification, traceHeaders?: Readonly<Record<string, string>> | null): boolean;
  /** Sends a hub event (read-state change) to this node's connections in audience `key`. */
  deliverEvent(key: string, target: string, payload: unknown): void;
  /**
   * Drain (docs/contract.md §10): readiness turns false, new connections are refused, existing ones get a
   * Close with allowReconnect spread over `drainMs` (jittered, so clients do not reconnect in one herd),
   * then the listener closes. Resolves when every connection has ended or `drainMs` + 2 s passed.
   */
  stop(drainMs?: number): Promise<void>;
  /** false while draining */
  readonly ready: boolean;
  readonly connectionCount: number;
}

/** A socket of a local connection, or one this node relays for a connection another node owns (docs/protocol.md §12). */
type SocketData = { connection: HubConnection; transport?: UwsTransport<SocketData>; relay?: undefined } | { relay: SocketRelay };

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, log, nodeId } = deps;
  if (!isValidNodeId(nodeId)) throw new Error(`invalid node id '${nodeId}': 1-64 characters of A-Z a-z 0-9 _ -`);
  const uws = loadNativeUws();
  const app: TemplatedApp = uws.App();
  const authenticate = createAuthenticator(config);
  const cors = new Cors(config.corsOrigins);
  const table = new ConnectionTable(config.disconnectTimeoutSeconds * 1000);
  const metrics = createGatewayMetrics(deps.registry ?? new Registry(), function* () {
    for (const c of table.values()) if (c.state === "open" && c.transport !== null) yield { transport: c.transport.kind, protocol: c.protocol!.name };
  });
  const transports = IMPLEMENTED_TRANSPORTS.filter((t) => config.transports.includes(t));
  const jsTopics = new JsTopics();
  const encodeFailures = new EncodeFailures(metrics.encodeFailures, log);
  const fanout = new Fanout(
    // uWS topics reach WebSockets, JsTopics reach SSE and long polling: both get the same bytes, encoded once per protocol.
    {
      publish: (topic, bytes, binary) => {
        app.publish(topic, bytes, binary);
        jsTopics.publish(topic, bytes);
      },
      numSubscribers: (topic) => app.numSubscribers(topic) + jsTopics.numSubscribers(topic),
    },
    table,
    config.dedupeWindowSeconds * 1000,
    metrics,
    encodeFailures,
    deps.membership,
  );
  const store = deps.store;
  const hub = new Hub({
    maxSubscriptions: config.maxSubscriptions,
    membership: fanout,
    tenantValidator: createTenantValidator(config),
    ...(store === undefined
      ? {}
      : {
          store,
          onSubscribed: async (connection: HubConnection, key: string) => void (await replayTo(store, connection, [key], config.replayLimit, log, encodeFailures)),
          publishUserEvent: deps.publishUserEvent ?? ((userId, target, payload) => fanout.deliverEvent(userAudience(userId), target, payload)),
        }),
  });
  const limits: ConnectionLimits = {
    maxMessageBytes: config.maxMessageBytes,
    maxBackpressureBytes: config.maxBackpressureBytes,
    handshakeTimeoutMs: config.handshakeTimeoutSeconds * 1000,
    keepaliveMs: config.keepaliveSeconds * 1000,
    clientTimeoutMs: config.clientTimeoutSeconds * 1000,
    detailedErrors: config.detailedErrors,
    calls: {
      ratePerSecond: config.hubCallRate,
      burst: config.hubCallBurst,
      maxQueued: config.maxQueuedCalls,
      floodLimit: config.hubCallFloodLimit,
      floodWindowMs: config.hubCallFloodWindowSeconds * 1000,
    },
  };
  const host: ConnectionHost = {
    hub,
    limits,
    log,
    onOpened: (connection) => {
      metrics.connects.inc({ transport: connection.transport!.kind, protocol: connection.protocol!.name });
      if (store === undefined) return;
      const userId = connection.identity.userId;
      const audiences = userId === null ? [GLOBAL_AUDIENCE] : [GLOBAL_AUDIENCE, userAudience(userId)];
      // replayTo never rejects; the catch keeps that true of any later change to it.
      replayTo(store, connection, audiences, config.replayLimit, log, encodeFailures).catch((err: unknown) => reportUnexpected(err, "replay"));
    },
    onClosed: (connection, reason) => {
      table.remove(connection);
      fanout.forget(connection);
      metrics.disconnects.inc({ reason });
      if (reason === "slow_consumer") metrics.slowConsumers.inc();
      if (reason === "hub_call_flood") metrics.hubCallFloods.inc();
    },
    onInvoked: (method, result) => metrics.invocations.inc({ method, result }),
    onThrottled: (reason) => metrics.hubCallsThrottled.inc({ reason }),
    // Stateful reconnect runs on WebSockets only (docs/protocol.md §7 condition 3); its fan-out goes through JsTopics so every message is numbered.
    statefulTransport: (connection, socket) =>
      socket instanceof UwsTransport || socket instanceof RelayedWsTransport
        ? new StatefulTransport(socket, {
            protocol: connection.protocol!,
            topics: jsTopics,
            sink: (bytes) => connection.sendMessage(bytes, Date.now()),
            bufferBytes: config.statefulBufferBytes,
            reattachWindowMs: disconnectTimeoutMs,
          })
        : null,
  };
  const disconnectTimeoutMs = config.disconnectTimeoutSeconds * 1000;
  const reportUnexpected = (err: unknown, source: UnexpectedSource) => report(log, err, source);
  let draining = false;
  let listeners: Bound[] = [];
  const separateApi = config.apiPort !== 0 && config.apiPort !== config.port;
  let ticker: NodeJS.Timeout | null = null;

  /** 401 before any upgrade; the reason goes in WWW-Authenticate (RFC 6750), the body stays empty. */
  const unauthorized = (reply: ResponseSink, reason: string) => {
    metrics.authFailures.inc();
    reply.unauthorized(reason);
  };

  /** Authenticates a hub request; answers 401 itself and returns null on refusal. */
  async function identify(reply: ResponseSink, authorization: string, query: Map<string, string>): Promise<Identity | null> {
    try {
      return await authenticate(extractToken(authorization, query.get("access_token") ?? null));
    } catch (err) {
      if (!(err instanceof AuthError)) throw err;
      unauthorized(reply, err.message);
      return null;
    }
  }

  /**
   * A request for a connection of another user: 401 when it carries no credential (anonymous), 403
   * when it carries a valid one of someone else.
   */
  function refuseOtherUser(reply: ResponseSink, identity: Identity): void {
    if (identity.userId === null) unauthorized(reply, "no access token");
    else reply.send(403);
  }

  function overUserLimit(identity: Identity): boolean {
    return identity.userId !== null && table.connectionsOf(identity.userId) >= config.maxConnectionsPerUser;
  }

  function newConnection(identity: Identity, version: 0 | 1 | null): HubConnection {
    const id = mintId(nodeId);
    const token = version === 1 ? mintId(nodeId) : id;
    const connection = new HubConnection(host, id, token, version, identity, Date.now());
    table.add(connection);
    return connection;
  }

  async function negotiate(reply: Reply, method: string, query: string, authorization: string): Promise<void> {
    if (method !== "POST") return reply.text(405);
    if (draining) return reply.text(503, "Server is shutting down");
    const request = parseNegotiateQuery(query);
    if (!request.ok) return reply.send(200, encodeNegotiateError(request.error), [["Content-Type", "application/json"]]);
    const identity = await identify(reply, authorization, parseQuery(query));
    if (identity === null || reply.aborted) return;
    if (overUserLimit(identity)) return reply.text(429, "Too many connections for this user");
    const connection = newConnection(identity, request.version);
    connection.statefulOffered = request.statefulReconnect && config.statefulReconnect;
    reply.send(
      200,
      encodeNegotiateResponse({
        version: request.version,
        connectionId: connection.id,
        connectionToken: connection.token,
        transports,
        statefulReconnect: connection.statefulOffered,
      }),
      [["Content-Type", "application/json"]],
    );
  }

  /** Non-upgrade requests on the hub path: SSE, long polling, their POSTs and DELETE (docs/protocol.md §3.1, §3.3–§3.5). */
  const hubRequest = createHubRequestHandler({
    table,
    topics: jsTopics,
    authenticate,
    transports,
    maxTransportBytes: config.maxTransportBytes,
    longPollTimeoutMs: config.longPollTimeoutSeconds * 1000,
    disconnectTimeoutMs,
    draining: () => draining,
    onUnauthorized: () => metrics.authFailures.inc(),
  });
  const forwarder =
    deps.bus === undefined
      ? null
      : new Forwarder({
          bus: deps.bus,
          nodeId,
          log,
          handle: hubRequest,
          forwardTimeoutMs: config.forwardTimeoutSeconds * 1000,
          longPollTimeoutMs: config.longPollTimeoutSeconds * 1000,
          streamIdleMs: (Math.max(config.keepaliveSeconds, config.handshakeTimeoutSeconds) + config.forwardTimeoutSeconds) * 1000,
          maxBackpressureBytes: config.maxBackpressureBytes,
          upgrade: acceptRelayedUpgrade,
        });

  /** The negotiated connection an upgrade with `id` attaches to (docs/protocol.md §3.2); null when it answered the refusal. */
  function upgradeTarget(reply: ResponseSink, id: string, identity: Identity): HubConnection | null {
    const found = table.byTransportId(id);
    if (found === undefined) reply.text(404, NO_CONNECTION);
    else if (found.identity.userId !== identity.userId) refuseOtherUser(reply, identity);
    else if (found.transport !== null && found.transport.kind !== "WebSockets") reply.text(400, "Cannot change transports mid-connection");
    else if (found.state !== "negotiated" && !found.reattachable) reply.send(409);
    else return found;
    return null;
  }

  /** Owner side of an upgrade with `id` that another node received: the same checks, then a transport over the relay. */
  async function acceptRelayedUpgrade(sink: ResponseSink, request: { query: string; authorization: string }, link: SocketLink): Promise<RelayedSocketHandlers | null> {
    if (draining) {
      sink.text(503, "Server is shutting down");
      return null;
    }
    if (!config.transports.includes("WebSockets")) {
      sink.text(404, "WebSockets transport not supported by this end point type");
      return null;
    }
    const params = parseQuery(request.query);
    const identity = await identify(sink, request.authorization, params);
    if (identity === null) return null;
    const connection = upgradeTarget(sink, params.get("id") ?? "", identity);
    if (connection === null) return null;
    const transport = new RelayedWsTransport(link, jsTopics, (bytes) => connection.sendMessage(bytes, Date.now()));
    connection.attach(transport, Date.now());
    return {
      // As for a local socket (the `message` and `close` handlers below).
      message: (bytes) => {
        if (transport.closed) return;
        if (bytes.byteLength <= config.maxTransportBytes) return connection.receive(bytes, Date.now());
        transport.end(1009);
        connection.transportClosed("message_too_large");
      },
      closed: (code) => {
        transport.markClosed();
        connection.transportClosed(closeCodeReason(code));
      },
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
    if (draining) return reply.text(503, "Server is shutting down");
    if (origin !== "" && config.corsOrigins.length > 0 && !cors.isAllowed(origin)) return reply.text(403, "Origin not allowed");
    if (!config.transports.includes("WebSockets")) return reply.text(404, "WebSockets transport not supported by this end point type");
    const owner = forwarder === null ? null : forwarder.remoteOwner("GET", query);
    if (forwarder !== null && owner !== null) {
      const relay = await forwarder.relayUpgrade(reply, { method: "GET", path, query, headers: forwardedHeaders(req), body: null }, owner);
      if (relay === null) return;
      if (reply.aborted) return relay.closed(1006); // the client left while the owner decided
      reply.aborted = true; // the upgrade below owns the response now
      res.cork(() => res.upgrade<SocketData>({ relay }, key, "", extensions, context));
      return;
    }
    const params = parseQuery(query);
    const identity = await identify(reply, authorization, params);
    if (identity === null || reply.aborted) return;
    const id = params.get("id");
    let connection: HubConnection;
    if (id !== undefined && id !== "") {
      const found = upgradeTarget(reply, id, identity);
      if (found === null) return;
      connection = found;
    } else {
      if (overUserLimit(identity)) return reply.text(429, "Too many connections for this user");
      connection = newConnection(identity, null); // skipNegotiation: the client never learns its id
    }
    reply.aborted = true; // the upgrade below owns the response now
    res.cork(() => res.upgrade<SocketData>({ connection }, key, "", extensions, context));
  }

  async function ingest(reply: Reply, req: { method: string; authorization: string; contentType: string; host: string }, liveOnly: boolean): Promise<void> {
    if (req.method !== "POST") return reply.apiError(405, "method_not_allowed", "Use POST.", {}, [["Allow", "POST"]]);
    if (!ingestAuthorised(req.authorization, reply.res)) {
      return reply.apiError(401, "unauthorized", "A valid producer key is required (Authorization: Bearer <key>).", {}, [["WWW-Authenticate", 'Bearer realm="tidings-ingest"']]);
    }
    if (!ingestHostAllowed(req.host)) return refuseHost(reply);
    const format = ingestMediaType(req.contentType);
    if (format === null) {
      return reply.apiError(415, "unsupported_media_type", "Send the notifications as Content-Type: application/json or application/msgpack.");
    }
    let body: Buffer;
    try {
      body = await readBody(reply, MAX_INGEST_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError) return reply.apiError(413, "payload_too_large", `The request body exceeds ${MAX_INGEST_BODY_BYTES} bytes.`);
      if (err instanceof BodyAbortedError) return; // the producer went away mid-body: nothing accepted, nobody to answer
      throw err;
    }
    let parsed: unknown;
    if (format === "msgpack") {
      const decoded = decodeIngestBody(body, { "Content-Type": MSGPACK_CONTENT_TYPE });
      if (!decoded.ok) return reply.apiError(400, "invalid_msgpack", "The request body is not valid MessagePack.");
      parsed = decoded.value;
    } else {
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        return reply.apiError(400, "invalid_json", "The request body is not valid JSON.");
      }
    }
    const result = validateEnvelopes(parsed, {
      now: new Date(),
      defaultTtlSeconds: config.defaultTtlSeconds,
      maxNotificationBytes: config.maxNotificationBytes,
    });
    if (!result.ok) {
      metrics.ingest.inc({ result: "rejected" }, Array.isArray(parsed) ? parsed.length : 1);
      const n = result.problems.length;
      return reply.apiError(400, "invalid_notification", `${n} problem${n === 1 ? "" : "s"} found; nothing was accepted.`, { problems: result.problems });
    }
    const notifications = liveOnly
      ? result.notifications.map((n) => ({ ...n, metadata: { ...n.metadata, isPersisted: false, persistedTTL: null } }))
      : result.notifications;
    if (deps.ingest === undefined) return reply.apiError(503, "unavailable", "This node does not accept notifications.");
    const span = startPublishSpan("tidings.notify.http", notifications.length);
    try {
      await deps.ingest(notifications, traceHeaders(span));
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      metrics.ingest.inc({ result: "unavailable" }, notifications.length);
      log.warn({ err }, "ingest failed; answered 503");
      return reply.apiError(503, "unavailable", "Notifications cannot be accepted right now; retry with the same ids.", {}, [["Retry-After", "1"]]);
    }
    metrics.ingest.inc({ result: "accepted" }, notifications.length);
    reply.json(202, { accepted: notifications.length, ids: notifications.map((n) => n.id) });
  }

  const readApi = createReadApi({ store, authenticate, onUnauthorized: () => metrics.authFailures.inc() });
  const ingestKeys = config.ingestKeys.map((k) => Buffer.from(k));
  function ingestAuthorised(authorization: string, res: HttpResponse): boolean {
    if (ingestKeys.length === 0) return isLoopback(res);
    const presented = /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1];
    if (presented === undefined) return false;
    const candidate = Buffer.from(presented);
    return ingestKeys.some((k) => k.length === candidate.length && timingSafeEqual(k, candidate));
  }

  /**
   * Without producer keys, loopback is the credential; a request must then also name a loopback host,
   * or a page on a DNS name rebound to 127.0.0.1 could use it from the user's browser.
   */
  function ingestHostAllowed(host: string): boolean {
    return ingestKeys.length > 0 || isLoopbackHost(host);
  }

  function refuseHost(reply: Reply): void {
    reply.apiError(403, "forbidden", "Without producer keys, requests must name a loopback host (localhost, 127.0.0.1 or [::1]).");
  }

  /**
   * Every HTTP request: a synchronous throw is answered with 500 here (uWS must see a response or an abort
   * handler before the handler returns), an asynchronous one by `fail` in `routeRequest`.
   */
  function route(res: HttpResponse, req: HttpRequest, listener: Listener = "main"): void {
    const rawPath = req.getUrl();
    if (wrongListener(separateApi, listener, rawPath)) return new Reply(res).apiError(404, "not_found", `No endpoint at ${rawPath}.`);
    const path = normalisePath(rawPath);
    try {
      routeRequest(res, req, rawPath, path);
    } catch (err) {
      reportUnexpected(err, "http");
      answerInternalError(res, path.startsWith("/notifications"));
    }
  }

  function routeRequest(res: HttpResponse, req: HttpRequest, rawPath: string, path: string): void {
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const query = req.getQuery() ?? "";
    const origin = req.getHeader("origin");
    const authorization = req.getHeader("authorization");
    const isHubPath = path === "/notifications" || path === "/notifications/negotiate";
    if (method === "OPTIONS" && (isHubPath || rawPath.startsWith("/api/"))) return cors.preflight(res, origin);
    const reply = new Reply(res, cors.headers(origin));
    const fail = (err: unknown) => {
      reportUnexpected(err, "http");
      if (isHubPath) reply.text(500);
      else reply.apiError(500, "internal", INTERNAL_ERROR_MESSAGE);
    };
    if (path === "/notifications/negotiate") return void negotiate(reply, method, query, authorization).catch(fail);
    if (path === "/notifications") {
      // Local or relayed, the body is read from here, before any await: uWS delivers it only to a handler registered synchronously.
      const owner = forwarder === null ? null : forwarder.remoteOwner(method, query);
      if (forwarder === null || owner === null) return void hubRequest(reply, { method, query, accept: req.getHeader("accept"), authorization, readBody: (limit) => readBody(reply, limit) }).catch(fail);
      const body = method === "POST" ? readBody(reply, config.maxTransportBytes) : null;
      body?.catch(() => undefined); // awaited by the relay; until then a rejection must not count as unhandled
      return void forwarder.relay(reply, { method, path, query, headers: forwardedHeaders(req), body }, owner).catch(fail);
    }
    const contentType = req.getHeader("content-type");
    const host = req.getHeader("host");
    switch (rawPath) {
      case "/api/notifications":
        return void ingest(reply, { method, authorization, contentType, host }, false).catch(fail);
      case "/test/notifications":
        if (config.testing) return void ingest(reply, { method, authorization, contentType, host }, true).catch(fail);
        break;
      case "/api/me/notifications":
        return void readApi.me(reply, method, query, authorization).catch(fail);
      case "/healthz":
        return reply.json(200, { status: "ok" });
      case "/readyz":
        return draining ? reply.apiError(503, "draining", "This node is shutting down.") : reply.json(200, { status: "ready" });
    }
    const userPath = /^\/api\/users\/([^/]+)\/notifications$/.exec(rawPath);
    if (userPath !== null) {
      if (!ingestAuthorised(authorization, res)) return reply.apiError(401, "unauthorized", "A valid producer key is required (Authorization: Bearer <key>).");
      if (!ingestHostAllowed(host)) return refuseHost(reply);
      let userId: string;
      try {
        userId = decodeURIComponent(userPath[1]!);
      } catch {
        return reply.apiError(400, "invalid_path", "The user id in the path is not valid percent-encoded UTF-8.");
      }
      return void readApi.user(reply, method, query, userId).catch(fail);
    }
    reply.apiError(404, "not_found", `No endpoint at ${rawPath}.`);
  }

  app.ws<SocketData>("/*", {
    // Frames over TIDINGS_MAX_TRANSPORT_BYTES get close 1009 from `message` below (docs/protocol.md §11). uWS
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
    open: (ws: WebSocket<SocketData>) => guardSocket(ws, () => {
      const data = ws.getUserData();
      if (data.relay !== undefined) return data.relay.opened(clientSocket(ws));
      data.transport = new UwsTransport(ws);
      data.connection.attach(data.transport, Date.now());
    }),
    message: (ws: WebSocket<SocketData>, message: ArrayBuffer) => guardSocket(ws, () => {
      const data = ws.getUserData();
      if (data.relay !== undefined) return data.relay.message(new Uint8Array(message)); // copied into the bus frame at once
      if (data.transport?.closed === true) return; // a socket we ended (e.g. replaced by a stateful reattach) feeds nothing more
      if (message.byteLength > config.maxTransportBytes) {
        // Ended first, so that a stateful connection sees its current socket closed and ends instead of detaching.
        data.transport?.end(1009);
        return data.connection.transportClosed("message_too_large");
      }
      // The parsers copy what they keep, and uWS reuses `message` after this callback returns.
      data.connection.receive(new Uint8Array(message), Date.now());
    }),
    close: (ws: WebSocket<SocketData>, code: number) => {
      try {
        const data = ws.getUserData();
        if (data.relay !== undefined) return data.relay.closed(code);
        data.transport?.markClosed();
        data.connection.transportClosed(closeCodeReason(code));
      } catch (err) {
        reportUnexpected(err, "websocket");
      }
    },
  });

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
  app.any("/*", route);

  function tick(): void {
    const now = Date.now();
    for (const connection of table.values()) {
      try {
        if (connection.state === "negotiated") {
          if (now - connection.createdAt >= disconnectTimeoutMs) table.remove(connection);
        } else {
          connection.tick(now);
        }
      } catch (err) {
        // One connection's failure must not stop the keep-alive and timeout checks of the others.
        reportUnexpected(err, "timer");
      }
    }
  }

  return {
    async start() {
      const main = await listen(uws, app, config.host, config.port);
      listeners.push(main);
      if (separateApi) {
        try {
          listeners.push(await listen(uws, createApiApp(uws, route), config.host, config.apiPort));
        } catch (err) {
          main.close();
          listeners = [];
          throw err;
        }
      }
      ticker = setInterval(tick, 1000);
      ticker.unref();
      return main.port;
    },
    deliver(notification, headers) {
      const span = startProcessSpan(`tidings.v1.node.${nodeId}`, headers, notification.id);
      const delivered = fanout.deliver(notification, Date.now());
      span.setAttribute("tidings.duplicate", !delivered);
      endSpan(span);
      return delivered;
    },
    async stop(drainMs = config.drainSeconds * 1000) {
      if (draining) return;
      draining = true;
      log.info({ connections: table.size, drainMs }, "draining");
      const closers: NodeJS.Timeout[] = [];
      for (const connection of table.values()) {
        if (connection.state === "negotiated") table.remove(connection);
        else closers.push(setTimeout(() => connection.close({ allowReconnect: true }), Math.random() * drainMs));
      }
      const deadline = Date.now() + drainMs + 2000;
      while (table.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const t of closers) clearTimeout(t);
      for (const connection of table.values()) connection.close({ allowReconnect: true });
      forwarder?.close();
      if (ticker !== null) clearInterval(ticker);
      for (const l of listeners) l.close();
      listeners = [];
      await new Promise((r) => setTimeout(r, 50)); // let uWS flush the last Close frames
    },
    deliverEvent: (key, target, payload) => fanout.deliverEvent(key, target, payload),
    get ready() {
      return !draining;
    },
    get connectionCount() {
      return table.size;
    },
  };
}

/** Close error of a connection ended by an unexpected server error. */
const INTERNAL_CLOSE_ERROR = "Connection closed with an error.";
const INTERNAL_ERROR_MESSAGE = "An unexpected error occurred.";

/**
 * Best-effort 500 on a response that may already be answered or aborted: empty on hub paths (as ASP.NET
 * answers), else with the /api error body.
 */
function answerInternalError(res: HttpResponse, hubPath: boolean): void {
  try {
    res.cork(() => {
      res.writeStatus(statusLine(500));
      if (hubPath) return void res.end();
      res.writeHeader("Content-Type", "application/json");
      res.end(JSON.stringify({ error: "internal", message: INTERNAL_ERROR_MESSAGE }));
    });
  } catch {
    // Answered or aborted already: uWS refuses a second response, and there is no one left to tell.
  }
}

/**
 * uWS reports 1006 when the socket ended without a close frame (TCP loss): a lost transport, which a
 * stateful connection survives. Any other code came in a client close frame (1005: one without a code),
 * a graceful end (docs/protocol.md §3.2).
 */
function closeCodeReason(code: number): DisconnectReason {
  return code === 1006 ? "transport_closed" : "client_close";
}

/** The request headers a forwarded hub request carries (docs/protocol.md §12); read before the handler's first await. */
function forwardedHeaders(req: HttpRequest): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of FORWARDED_HEADERS) {
    const value = req.getHeader(name);
    if (value !== "") headers[name] = value;
  }
  return headers;
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

/** Hub paths match case-insensitively and with a trailing slash (docs/protocol.md §1). */
function normalisePath(url: string): string {
  const lower = url.toLowerCase();
  return lower.length > 1 && lower.endsWith("/") ? lower.slice(0, -1) : lower;
}

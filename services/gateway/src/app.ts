/*
 * The gateway's composition and lifecycle: builds its parts and wires them together, listens, runs the
 * once-a-second tick and drains. The layers themselves live in http/ (routes, negotiate, ingest and read
 * APIs, HTTP transports' requests), transport/ (the WebSocket endpoint and the transports) and cluster/
 * (forwarding); what each connection is given is built in connection-host.ts, and how connections end in
 * a drain is drain.ts. docs/architecture.md §1.2 maps them. Over 300 lines: the construction order and its
 * reverse in stop() are one list, kept in one place so start-up and shutdown cannot drift apart.
 */
import type { TidingsConfig } from "@tidings/config";
import { isValidNodeId, NodeMessage, userAudience, type Bus, type Notification, type NotificationStore } from "@tidings/contracts";
import {
  endSpan,
  Registry,
  reportUnexpected as report,
  startProcessSpan,
  type Logger,
  type UnexpectedSource,
} from "@tidings/observability";
import type { TransportName } from "@tidings/protocol";
import type { TemplatedApp } from "uWebSockets.js";
import { createAuthenticator } from "./auth.js";
import { Forwarder } from "./cluster/forwarding.js";
import type { HubConnection } from "./connection.js";
import { createConnectionHost } from "./connection-host.js";
import { ConnectionTable } from "./connection-table.js";
import { EncodeFailures } from "./encode-failures.js";
import { Fanout, type MembershipListener } from "./fanout.js";
import { createAdmission } from "./http/admission.js";
import { Cors } from "./http/cors.js";
import { createHubRequestHandler } from "./http/hub-request.js";
import { createIngestApi, type IngestSink } from "./http/ingest-api.js";
import { createNegotiateHandler } from "./http/negotiate.js";
import { createProducerAuth } from "./http/producer-auth.js";
import { createReadApi } from "./http/read-api.js";
import { createApiApp, listen, type Bound } from "./http/listeners.js";
import { createRouter } from "./http/routes.js";
import { createInboxPage, type InboxPageOptions } from "./http/inbox-page.js";
import { Hub } from "./hub.js";
import { createGatewayMetrics } from "./metrics.js";
import { BusCatchUp } from "./catch-up.js";
import { replayTo } from "./replay.js";
import { drainConnections } from "./drain.js";
import { createTenantValidator } from "./tenant-validation.js";
import { JsTopics } from "./transport/js-topics.js";
import { loadNativeUws } from "./transport/uws.js";
import { mountWsEndpoint } from "./transport/ws-endpoint.js";
import { turnClock } from "./turn-clock.js";

export type { IngestSink } from "./http/ingest-api.js";

/** Transports this build serves; negotiate offers the ones that are also enabled by TIDINGS_TRANSPORTS. */
const IMPLEMENTED_TRANSPORTS: readonly TransportName[] = ["WebSockets", "ServerSentEvents", "LongPolling"];

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
  /**
   * Cluster registry announcer: told of this node's audience memberships (first join / last leave).
   * With `acknowledged`, a Subscribe completes only once it resolves: true when every live router
   * acknowledged the membership, false when its bounded wait ran out.
   */
  membership?: MembershipListener & { acknowledged?(): Promise<boolean> };
  /**
   * The cluster bus. Present: hub requests for connections owned by another node are forwarded to it,
   * and this node serves the requests forwarded to it (docs/protocol.md §12). Absent (standalone): every
   * connection is local.
   */
  bus?: Bus;
  /**
   * Catch-up after a NATS outage asks the store for what it received from this long before the
   * disconnect was noticed (the bus's dead-connection detection time plus clock skew). Default 0.
   */
  busLookBackMs?: number;
  /** The inbox page at `/inbox` (development: `pnpm start`); absent → not served. */
  inbox?: InboxPageOptions;
}

export interface Gateway {
  /** Starts listening; resolves with the bound port. */
  start(): Promise<number>;
  /**
   * Delivers a notification to local connections (once per audience and id within the dedupe window).
   * `traceHeaders` (W3C traceparent) links the `process` span to the producer's trace. `wire`: the
   * notification as `notificationCodec` encoded it, when it arrived that way (a router's node message);
   * JSON frames are then built from those bytes instead of serialising the notification again.
   */
  deliver(notification: Notification, traceHeaders?: Readonly<Record<string, string>> | null, wire?: Uint8Array): boolean;
  /**
   * `deliver` for a node message as a router sends it, in either format (`NodeMessage.read`): framed
   * messages are delivered without parsing their JSON. Throws `TypeError` for bytes in neither format.
   */
  deliverNodeMessage(data: Uint8Array, traceHeaders?: Readonly<Record<string, string>> | null): boolean;
  /** Sends a hub event (read-state change) to this node's connections in audience `key`. */
  deliverEvent(key: string, target: string, payload: unknown): void;
  /**
   * Drain (docs/contract.md §10): readiness turns false, new connections are refused, existing ones get a
   * Close with allowReconnect spread over `drainMs` (jittered, so clients do not reconnect in one herd),
   * then the listener closes. Resolves when every connection has ended or `drainMs` + 2 s passed.
   */
  stop(drainMs?: number): Promise<void>;
  /**
   * The node's NATS connection broke (`disconnected`, at `at` epoch ms, default now) or is back
   * (`reconnected`): once back, every open connection gets the persisted notifications the outage may
   * have cost it (catch-up.ts). No-op without a store.
   */
  busDisconnected(at?: number): void;
  busReconnected(): Promise<void>;
  /** false while draining */
  readonly ready: boolean;
  readonly connectionCount: number;
}

export function createGateway(deps: GatewayDeps): Gateway {
  const { config, log, nodeId } = deps;
  if (!isValidNodeId(nodeId)) throw new Error(`invalid node id '${nodeId}': 1-64 characters of A-Z a-z 0-9 _ -`);
  const uws = loadNativeUws();
  const app: TemplatedApp = uws.App();
  const authenticate = createAuthenticator(config);
  const cors = new Cors(config.corsOrigins);
  const table = new ConnectionTable(config.disconnectTimeoutSeconds * 1000);
  const metrics = createGatewayMetrics(deps.registry ?? new Registry(), function* () {
    for (const c of table.values())
      if (c.state === "open" && c.transport !== null) yield { transport: c.transport.kind, protocol: c.protocol!.name };
  });
  const transports = IMPLEMENTED_TRANSPORTS.filter((t) => config.transports.includes(t));
  const jsTopics = new JsTopics();
  const encodeFailures = new EncodeFailures(metrics.encodeFailures, log);
  const fanout = new Fanout(
    // uWS topics reach WebSockets, JsTopics reach SSE and long polling: both get the same bytes, encoded once per protocol.
    {
      publish: (topic, bytes, binary) => {
        const reached = app.publish(topic, bytes, binary);
        return jsTopics.empty ? reached : jsTopics.publish(topic, bytes) || reached;
      },
      numSubscribers: (topic) => app.numSubscribers(topic) + (jsTopics.empty ? 0 : jsTopics.numSubscribers(topic)),
    },
    table,
    config.dedupeWindowSeconds * 1000,
    metrics,
    encodeFailures,
    deps.membership,
  );
  const store = deps.store;
  const catchUp =
    store === undefined
      ? null
      : new BusCatchUp({
          store,
          connections: () => table.values(),
          replay: (connection, audiences, since, skip) =>
            replayTo(store, connection, audiences, config.replayLimit, log, encodeFailures, { since, skip }),
          deliveredLive: (audienceId, id) => fanout.delivered(audienceId, id),
          lookBackMs: deps.busLookBackMs ?? 0,
          log,
          onCaughtUp: (_connections, sent) => metrics.catchUpNotifications.inc(sent),
        });
  const announcer = deps.membership;
  const hub = new Hub({
    maxSubscriptions: config.maxSubscriptions,
    membership: fanout,
    ...(announcer?.acknowledged === undefined
      ? {}
      : {
          membershipAcknowledged: async () => {
            const endTimer = metrics.membershipAckSeconds.startTimer();
            if (!(await announcer.acknowledged!())) metrics.membershipAckTimeouts.inc();
            endTimer();
          },
        }),
    tenantValidator: createTenantValidator(config),
    ...(store === undefined
      ? {}
      : {
          store,
          onSubscribed: async (connection: HubConnection, key: string) =>
            void (await replayTo(store, connection, [key], config.replayLimit, log, encodeFailures)),
          publishUserEvent:
            deps.publishUserEvent ?? ((userId, target, payload) => fanout.deliverEvent(userAudience(userId), target, payload)),
        }),
  });
  const disconnectTimeoutMs = config.disconnectTimeoutSeconds * 1000;
  const nodeSubject = `tidings.v1.node.${nodeId}`;
  const deliveryClock = turnClock();
  const deliverMessage = (message: NodeMessage, headers: Readonly<Record<string, string>> | null | undefined): boolean => {
    const span = startProcessSpan(nodeSubject, headers);
    // The id as a string only for a recorded span: a framed message's id is otherwise never decoded.
    if (span.isRecording()) span.setAttribute("messaging.message.id", message.id);
    const delivered = fanout.deliverMessage(message, deliveryClock());
    span.setAttribute("tidings.duplicate", !delivered);
    endSpan(span);
    return delivered;
  };
  const reportUnexpected = (err: unknown, source: UnexpectedSource) => report(log, err, source);
  let draining = false;
  let listeners: Bound[] = [];
  const separateApi = config.apiPort !== 0 && config.apiPort !== config.port;
  let ticker: NodeJS.Timeout | null = null;
  const host = createConnectionHost({ config, log, hub, table, fanout, metrics, encodeFailures, jsTopics, store, reportUnexpected });

  const onUnauthorized = () => metrics.authFailures.inc();
  const admission = createAdmission({
    authenticate,
    onUnauthorized,
    table,
    nodeId,
    host,
    maxConnectionsPerUser: config.maxConnectionsPerUser,
  });
  /** Non-upgrade requests on the hub path: SSE, long polling, their POSTs and DELETE (docs/protocol.md §3.1, §3.3–§3.5). */
  const hubRequest = createHubRequestHandler({
    table,
    topics: jsTopics,
    admission,
    transports,
    maxTransportBytes: config.maxTransportBytes,
    longPollTimeoutMs: config.longPollTimeoutSeconds * 1000,
    disconnectTimeoutMs,
    draining: () => draining,
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
          upgrade: (sink, request, link) => wsEndpoint.acceptRelayed(sink, request, link),
        });
  const wsEndpoint = mountWsEndpoint({
    app,
    config,
    cors,
    admission,
    table,
    topics: jsTopics,
    forwarder,
    draining: () => draining,
    reportUnexpected,
  });
  const producerAuth = createProducerAuth(config.ingestKeys);
  const route = createRouter({
    cors,
    negotiate: createNegotiateHandler({ admission, transports, statefulReconnect: config.statefulReconnect, draining: () => draining }),
    hubRequest,
    forwarder,
    ingest: createIngestApi({ config, log, metrics, producerAuth, ingest: deps.ingest }),
    readApi: createReadApi({ store, authenticate, onUnauthorized }),
    producerAuth,
    testing: config.testing,
    maxTransportBytes: config.maxTransportBytes,
    draining: () => draining,
    reportUnexpected,
    separateApi,
    inboxPage: deps.inbox === undefined ? null : createInboxPage(deps.inbox),
  });
  app.any("/*", (res, req) => route(res, req, "main"));

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
    deliver: (notification, headers, wire) => deliverMessage(NodeMessage.of(notification, wire ?? null), headers),
    deliverNodeMessage: (data, headers) => deliverMessage(NodeMessage.read(data), headers),
    async stop(drainMs = config.drainSeconds * 1000) {
      if (draining) return;
      draining = true;
      await drainConnections(table, drainMs, log);
      forwarder?.close();
      if (ticker !== null) clearInterval(ticker);
      for (const l of listeners) l.close();
      listeners = [];
      await new Promise((r) => setTimeout(r, 50)); // let uWS flush the last Close frames
    },
    deliverEvent: (key, target, payload) => fanout.deliverEvent(key, target, payload),
    busDisconnected: (at) => catchUp?.disconnected(at),
    busReconnected: async () => {
      await catchUp?.reconnected();
    },
    get ready() {
      return !draining;
    },
    get connectionCount() {
      return table.size;
    },
  };
}

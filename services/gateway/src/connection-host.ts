import type { TidingsConfig } from "@tidings/config";
import { GLOBAL_AUDIENCE, userAudience, type NotificationStore } from "@tidings/contracts";
import type { Logger, UnexpectedSource } from "@tidings/observability";
import type { ConnectionHost, ConnectionLimits, HubDispatch } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import type { EncodeFailures } from "./encode-failures.js";
import type { Fanout } from "./fanout.js";
import type { GatewayMetrics } from "./metrics.js";
import { replayTo } from "./replay.js";
import type { JsTopics } from "./transport/js-topics.js";
import { StatefulTransport } from "./transport/stateful-transport.js";

export interface ConnectionHostDeps {
  config: TidingsConfig;
  log: Logger;
  hub: HubDispatch;
  table: ConnectionTable;
  fanout: Fanout;
  metrics: GatewayMetrics;
  encodeFailures: EncodeFailures;
  /** Fan-out to SSE, long polling and stateful connections. */
  jsTopics: JsTopics;
  /** Absent: no replay on connect. */
  store: NotificationStore | undefined;
  reportUnexpected: (err: unknown, source: UnexpectedSource) => void;
}

/**
 * What every connection of this node is given: its limits from the settings, and the hooks that keep
 * the node's books as connections open and close (metrics, the connection table, fan-out membership,
 * replay on connect).
 */
export function createConnectionHost(deps: ConnectionHostDeps): ConnectionHost {
  const { config, log, table, fanout, metrics, encodeFailures, store, reportUnexpected } = deps;
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
  return {
    hub: deps.hub,
    limits,
    log,
    onOpened: (connection) => {
      metrics.connects.inc({ transport: connection.transport!.kind, protocol: connection.protocol!.name });
      if (store === undefined) return;
      const userId = connection.identity.userId;
      const audiences = userId === null ? [GLOBAL_AUDIENCE] : [GLOBAL_AUDIENCE, userAudience(userId)];
      // replayTo never rejects; the catch keeps that true of any later change to it.
      replayTo(store, connection, audiences, config.replayLimit, log, encodeFailures).catch((err: unknown) =>
        reportUnexpected(err, "replay"),
      );
    },
    onClosed: (connection, reason) => {
      table.remove(connection);
      fanout.forget(connection);
      metrics.disconnects.inc({ reason });
      if (reason === "slow_consumer") metrics.slowConsumers.inc();
      if (reason === "hub_call_flood") metrics.hubCallFloods.inc();
    },
    lastPublishedTo: (connection) => fanout.lastPublishedTo(connection),
    onInvoked: (method, result) => metrics.invocations.inc({ method, result }),
    onThrottled: (reason) => metrics.hubCallsThrottled.inc({ reason }),
    // Its fan-out goes through JsTopics so that every message is numbered.
    statefulTransport: (connection, socket) =>
      new StatefulTransport(socket, {
        protocol: connection.protocol!,
        topics: deps.jsTopics,
        sink: (bytes) => connection.sendMessage(bytes, Date.now()),
        bufferBytes: config.statefulBufferBytes,
        reattachWindowMs: config.disconnectTimeoutSeconds * 1000,
      }),
  };
}

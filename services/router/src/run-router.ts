import { hostname } from "node:os";
import { Registry } from "prom-client";
import { JetStreamIngestQueue, MemoryAudienceRegistry, connectNatsBus, natsOptionsOf, type JetStreamIngestQueueOptions } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { BusNotificationStore, type Bus, type NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import { createRouterMetrics } from "./metrics.js";
import { createRouter, type RouterOptions } from "./router.js";

export interface RunRouterDeps {
  /** Where the router's metrics go (serve it on `/metrics`); default: a registry of its own. */
  metricsRegistry?: Registry;
  /** The store client; default: `BusNotificationStore` (request-reply to the store service). */
  store?: (bus: Bus) => NotificationStore;
  /** Overrides of the router's tuning (ingest concurrency, retry delays, registry timing). */
  options?: Partial<RouterOptions>;
  /** Overrides of the JetStream stream/consumer settings (ack wait, max deliver …). */
  queue?: JetStreamIngestQueueOptions;
}

export interface RunningRouter {
  readonly ready: boolean;
  /** Stops the router (in-flight messages finish and are acked), then drains the NATS connection. */
  stop(): Promise<void>;
}

/**
 * The router process (`TIDINGS_ROLE=router`): connects to `TIDINGS_NATS_URL`, ensures stream
 * `TIDINGS`, syncs the registry with every gateway node and consumes as one replica of the shared
 * durable consumer. Resolves once it is routing.
 */
export async function runRouter(config: TidingsConfig, log: Logger, deps: RunRouterDeps = {}): Promise<RunningRouter> {
  if (config.natsUrl === undefined) throw new Error("the router needs TIDINGS_NATS_URL");
  const name = `tidings-router-${config.nodeId ?? hostname()}`;
  const nats = natsOptionsOf(config);
  const bus = await connectNatsBus(config.natsUrl, {
    name,
    security: nats.security,
    onError: (err, subject) => log.error({ err, subject }, "bus handler failed"),
    onConnectionChange: (status, server) => log.warn({ status, server }, `NATS ${status}`),
  });
  try {
    const ackWaitMs = deps.queue?.ackWaitMs ?? config.routerAckWaitSeconds * 1000;
    const queue = await JetStreamIngestQueue.create(bus.connection, {
      onError: (err) => log.error({ err }, "ingest consumer error"),
      ...nats.queue,
      ...deps.queue,
      ackWaitMs,
    });
    const store = deps.store?.(bus) ?? new BusNotificationStore(bus, { timeoutMs: config.forwardTimeoutSeconds * 1000 });
    const router = createRouter({
      bus,
      queue,
      store,
      registry: new MemoryAudienceRegistry(),
      log,
      metrics: createRouterMetrics(deps.metricsRegistry ?? new Registry()),
      options: {
        defaultTtlSeconds: config.defaultTtlSeconds,
        maxNotificationBytes: config.maxNotificationBytes,
        // A message's ack-wait timer is restarted three times per ack wait while it is handled.
        holdHeartbeatMs: Math.max(100, Math.floor(ackWaitMs / 3)),
        ...deps.options,
      },
    });
    await router.start();
    log.info({ name }, "router running");
    return {
      get ready() {
        return router.ready;
      },
      async stop() {
        await router.stop();
        await bus.close();
      },
    };
  } catch (error) {
    await bus.close();
    throw error;
  }
}

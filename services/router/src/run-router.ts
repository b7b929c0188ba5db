import { hostname } from "node:os";
import { Registry } from "prom-client";
import {
  JetStreamIngestQueue,
  MemoryAudienceRegistry,
  ROUTER_CONSUMER,
  ShardedAudienceRegistry,
  connectNatsBus,
  natsOptionsOf,
  type IngestBacklog,
  type JetStreamIngestQueueOptions,
  type NatsBus,
} from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import {
  BusNotificationStore,
  subjects,
  type AudienceRegistry,
  type Bus,
  type IngestQueue,
  type NotificationStore,
} from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import { createRouterMetrics } from "./metrics.js";
import { createPartitioner } from "./partitioner.js";
import { createRouter, type RouterOptions } from "./router.js";
import { ShardedIngest } from "./sharded-ingest.js";

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
 * durable consumer. With `TIDINGS_REGISTRY_PARTITIONS` above 1 that consumer partitions ingest into
 * `TIDINGS_PARTS` and the router holds and consumes only the partitions it owns (`ShardedIngest`).
 * Resolves once it is routing.
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
    let ingest: IngestQueue & Partial<IngestBacklog> = queue;
    let registry: AudienceRegistry = new MemoryAudienceRegistry();
    if (config.registryPartitions > 1) {
      const sharded = await shardedIngest(
        config,
        log,
        bus,
        queue,
        { ...nats.queue, ...deps.queue, ackWaitMs },
        deps.options?.registry?.heartbeatIntervalMs,
      );
      await sharded.ingest.prepare();
      ingest = sharded.ingest;
      registry = sharded.registry;
    }
    const router = createRouter({
      bus,
      queue: ingest,
      store,
      registry,
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

/** The partitioned ingest and registry of a router with `TIDINGS_REGISTRY_PARTITIONS` above 1. */
async function shardedIngest(
  config: TidingsConfig,
  log: Logger,
  bus: NatsBus,
  source: JetStreamIngestQueue,
  queueOptions: JetStreamIngestQueueOptions,
  heartbeatIntervalMs: number | undefined,
): Promise<{ ingest: ShardedIngest; registry: ShardedAudienceRegistry }> {
  const partitions = config.registryPartitions;
  // Tests that isolate their stream get an isolated partition stream with it.
  const stream = queueOptions.stream === undefined ? subjects.partitionStream : `${queueOptions.stream}_PARTS`;
  const partOptions = { ...queueOptions, stream, subjects: [subjects.partitionWildcard] };
  const target = await JetStreamIngestQueue.create(bus.connection, partOptions);
  const registry = new ShardedAudienceRegistry({ partitions });
  const ingest = new ShardedIngest({
    bus,
    routerId: config.nodeId ?? hostname(),
    registry,
    source,
    partitioner: createPartitioner({
      target,
      partitions,
      defaultTtlSeconds: config.defaultTtlSeconds,
      maxNotificationBytes: config.maxNotificationBytes,
    }),
    partitionQueue: (p) =>
      JetStreamIngestQueue.create(bus.connection, {
        ...partOptions,
        durable: `${queueOptions.durable ?? ROUTER_CONSUMER}-p${p}`,
        filterSubject: subjects.partition(p),
      }),
    heartbeatIntervalMs: heartbeatIntervalMs ?? config.registryHeartbeatSeconds * 1000,
    log,
  });
  return { ingest, registry };
}

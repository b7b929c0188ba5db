/**
 * One router of the fleet simulation, in its own process: the real registry tracker, sharded
 * registry, roster and partition handover (`ShardedIngest`) and the real `createRouter` pipeline
 * (decode, validate, look up, publish once per owning node). Only the transport of the partitions
 * differs: each owned partition is a core NATS subscription to `tidings.v1.part.<p>` instead of a
 * JetStream durable, so the simulation measures the registry and routing, not JetStream's disk.
 *
 * Environment: FLEET_NATS_URL, FLEET_ROUTER_ID, FLEET_PARTITIONS, FLEET_HEARTBEAT_MS. Prints
 * "ready" once routing. Answers `fleet.stats.<routerId>` with its heap, key count, partitions and
 * a lookup rate measured over `sample` keys of its own partitions.
 */
import { Registry } from "prom-client";
import { ShardedAudienceRegistry, connectNatsBus } from "@tidings/bus";
import { subjects, type Bus, type IngestConsumer, type IngestMessage, type IngestQueue, type NotificationStore } from "@tidings/contracts";
import { createLogger } from "@tidings/observability";
import { createRouter } from "../../src/router.js";
import { createRouterMetrics } from "../../src/metrics.js";
import { ShardedIngest } from "../../src/sharded-ingest.js";

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined) throw new Error(`${name} is required`);
  return v;
};
const routerId = env("FLEET_ROUTER_ID");
const partitions = Number(env("FLEET_PARTITIONS"));
const heartbeatIntervalMs = Number(env("FLEET_HEARTBEAT_MS"));
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

/** A partition as a core NATS subject: no durability, acks are no-ops. */
function corePartition(bus: Bus, subject: string): IngestQueue {
  return {
    publish: (s, data) => {
      bus.publish(s, data);
      return Promise.resolve({ duplicate: false, seq: 0 });
    },
    consume: (handler): IngestConsumer => {
      const sub = bus.subscribe(subject, (m) => {
        const msg: IngestMessage = {
          subject: m.subject,
          data: m.data,
          headers: m.headers,
          deliveryCount: 1,
          ack: () => Promise.resolve(),
          nak: () => undefined,
          working: () => undefined,
        };
        return handler(msg);
      });
      return { stop: () => Promise.resolve(sub.unsubscribe()) };
    },
  };
}

/** Producers publish straight to the partitions here, so the `tidings.notify.>` source is idle. */
const idleSource: IngestQueue = {
  publish: () => Promise.reject(new Error("the fleet simulation has no producer stream")),
  consume: () => ({ stop: () => Promise.resolve() }),
};

gc();
const baseHeap = process.memoryUsage().heapUsed;
const log = createLogger({ level: "warn", service: "fleet-router", nodeId: routerId });
const bus = await connectNatsBus(env("FLEET_NATS_URL"), { name: routerId });
const registry = new ShardedAudienceRegistry({ partitions });
const ingest = new ShardedIngest({
  bus,
  routerId,
  registry,
  source: idleSource,
  partitioner: (m) => m.ack(),
  partitionQueue: (p) => Promise.resolve(corePartition(bus, subjects.partition(p))),
  heartbeatIntervalMs,
  log,
});
await ingest.prepare();
const router = createRouter({
  bus,
  queue: ingest,
  // Probes are not persisted: the store is never called.
  store: {} as NotificationStore,
  registry,
  log,
  metrics: createRouterMetrics(new Registry()),
  options: {
    defaultTtlSeconds: 3600,
    maxNotificationBytes: 65536,
    maxInFlight: 1024,
    registry: { heartbeatIntervalMs, syncWindowMs: 1000, snapshotTimeoutMs: 30_000 },
  },
});
await router.start();
process.stdout.write("ready\n");

bus.subscribe(`fleet.stats.${routerId}`, (m) => {
  if (m.reply === null) return;
  const { keySpace } = JSON.parse(new TextDecoder().decode(m.data)) as { keySpace: number };
  gc();
  const heap = process.memoryUsage().heapUsed - baseHeap;
  // Lookup rate: `nodesFor` + iterating the owners, over keys of the partitions owned here.
  const sample: string[] = [];
  for (let i = 0; sample.length < 100_000 && i < keySpace * 4; i++) {
    const key = `user:u${(i * 2654435761) % keySpace}`;
    if (registry.owns(key)) sample.push(key);
  }
  let lookups = 0;
  let owners = 0;
  const started = process.hrtime.bigint();
  const budget = 500_000_000n;
  while (sample.length > 0 && process.hrtime.bigint() - started < budget) {
    for (const key of sample) for (const _ of registry.nodesFor(key)) owners++;
    lookups += sample.length;
  }
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const stats = {
    routerId,
    heapBytes: heap,
    rssBytes: process.memoryUsage().rss,
    keys: registry.keyCount(),
    memberships: registry.size(),
    nodes: registry.liveNodes().size,
    owned: registry.owned().length,
    serving: ingest.serving().length,
    lookupsPerSecond: seconds > 0 ? Math.round(lookups / seconds) : 0,
    ownersPerLookup: lookups > 0 ? owners / lookups : 0,
  };
  bus.publish(m.reply, new TextEncoder().encode(JSON.stringify(stats)));
});

process.once("SIGTERM", () => {
  void router.stop().then(async () => {
    await bus.close();
    process.exit(0);
  });
});

/**
 * A router over MemoryBus, MemoryIngestQueue and a FaultyStore, for the router's unit tests: nodes
 * injected into the registry, node publishes and dead letters collected, acks and naks logged.
 */
import { Registry } from "prom-client";
import { MemoryAudienceRegistry, MemoryBus, MemoryIngestQueue, encodeIngestBody, registryDigest, type IngestBacklog } from "@tidings/bus";
import {
  MemoryNotificationStore,
  subjects,
  type BusMessage,
  type IngestMessage,
  type IngestQueue,
  type Notification,
} from "@tidings/contracts";
import { silentLogger } from "@tidings/observability";
import { FaultyStore } from "@tidings/testkit";
import { createRouterMetrics } from "../src/metrics.js";
import { createRouter, type Router } from "../src/router.js";

export const dec = new TextDecoder();

export interface Harness {
  bus: MemoryBus;
  queue: IngestQueue & IngestBacklog;
  store: FaultyStore<MemoryNotificationStore>;
  registry: MemoryAudienceRegistry;
  metrics: Registry;
  router: Router;
  /** Messages per node subject, and dead letters. */
  nodeMessages: Map<string, BusMessage[]>;
  deadLetters: BusMessage[];
  /** `ack:<id>` and `nak:<id>` in the order the router called them, with whatever a test adds. */
  events: string[];
  /** Ids whose next ack fails (logged as `ack-failed:<id>`): the queue did not record it. */
  failAck: Set<string>;
  publish(envelope: unknown, opts?: { format?: "json" | "msgpack"; headers?: Record<string, string>; msgId?: string }): Promise<void>;
  received(nodeId: string): Notification[];
}

let harnesses: Harness[] = [];

/** Stops every harness made since the last call (each test file calls it after each test). */
export async function closeHarnesses(): Promise<void> {
  for (const h of harnesses) {
    await h.router.stop();
    await h.bus.close();
  }
  harnesses = [];
}

let msgIds = 0;

/** The envelope id of an ingest message, for the event log. */
function idOf(m: IngestMessage): string {
  try {
    return (JSON.parse(dec.decode(m.data)) as { id?: string }).id ?? "?";
  } catch {
    return "?";
  }
}

export async function harness(nodes: Record<string, string[]> = {}): Promise<Harness> {
  const bus = new MemoryBus();
  const memoryQueue = new MemoryIngestQueue({ ackWaitMs: 2000 });
  const events: string[] = [];
  const failAck = new Set<string>();
  // The queue as the router sees it, logging each ack and nak.
  const queue: IngestQueue & IngestBacklog = {
    publish: (subject, data, opts) => memoryQueue.publish(subject, data, opts),
    pending: () => memoryQueue.pending(),
    consume: (handler, opts) =>
      memoryQueue.consume(
        (m) =>
          handler({
            subject: m.subject,
            data: m.data,
            headers: m.headers,
            deliveryCount: m.deliveryCount,
            working: () => m.working(),
            ack: () => {
              const id = idOf(m);
              if (failAck.delete(id)) {
                events.push(`ack-failed:${id}`);
                return Promise.reject(new Error("ack not recorded"));
              }
              events.push(`ack:${id}`);
              return m.ack();
            },
            nak: (delayMs) => {
              events.push(`nak:${idOf(m)}`);
              m.nak(delayMs);
            },
          }),
        opts,
      ),
  };
  const store = new FaultyStore(new MemoryNotificationStore());
  const registry = new MemoryAudienceRegistry();
  for (const [nodeId, keys] of Object.entries(nodes)) {
    registry.applySnapshot({ kind: "snapshot", nodeId, seq: 0, keys, digest: registryDigest(keys) });
  }
  const metrics = new Registry();
  const router = createRouter({
    bus,
    queue,
    store,
    registry,
    log: silentLogger(),
    metrics: createRouterMetrics(metrics),
    options: {
      defaultTtlSeconds: 1800,
      maxNotificationBytes: 65536,
      maxInFlight: 16,
      storeProbeMs: 50,
      storeProbeMaxMs: 200,
      storeRefusedRetryMs: 50,
      holdHeartbeatMs: 500,
      // Nodes here are injected, not announced: no sweep may drop them during a test.
      registry: { heartbeatIntervalMs: 60_000, syncWindowMs: 10 },
    },
  });
  const nodeMessages = new Map<string, BusMessage[]>();
  const deadLetters: BusMessage[] = [];
  bus.subscribe("tidings.v1.node.>", (m) => {
    const list = nodeMessages.get(m.subject) ?? [];
    list.push(m);
    nodeMessages.set(m.subject, list);
  });
  bus.subscribe(subjects.deadLetter, (m) => void deadLetters.push(m));
  await router.start();
  const h: Harness = {
    bus,
    queue,
    store,
    registry,
    metrics,
    router,
    nodeMessages,
    deadLetters,
    events,
    failAck,
    async publish(envelope, opts = {}) {
      const { data, headers } = encodeIngestBody(envelope, opts.format ?? "json");
      await queue.publish(subjects.notify("test"), data, { msgId: opts.msgId ?? `m${++msgIds}`, headers: { ...headers, ...opts.headers } });
    },
    received(nodeId) {
      return (nodeMessages.get(subjects.node(nodeId)) ?? []).map((m) => JSON.parse(dec.decode(m.data)) as Notification);
    },
  };
  harnesses.push(h);
  return h;
}

export const envelope = (id: string, audienceType: number, audienceValue?: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: "invoice-ready",
  body: { n: id },
  routing: audienceValue === undefined ? { audienceType } : { audienceType, audienceValue },
  metadata: { producer: "billing", ...extra },
});

export async function counterValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((sum, v) => sum + v.value, 0);
}

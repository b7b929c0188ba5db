import { Counter, Gauge, Histogram, type Registry } from "prom-client";
import type { AudienceRegistry } from "@tidings/contracts";

/** Reasons an envelope is dead-lettered; the `reason` label takes only these values. */
export const DeadLetterReason = {
  MalformedJson: "malformed_json",
  MalformedMsgpack: "malformed_msgpack",
  InvalidEnvelope: "invalid_envelope",
  /** The store refused the notification for good (e.g. the database rejects the row). */
  StoreRefused: "store_refused",
} as const;
export type DeadLetterReason = (typeof DeadLetterReason)[keyof typeof DeadLetterReason];

/**
 * The process-duration histogram observes 1 ingest message in PROCESS_TIMING_SAMPLE_EVERY (the 1st,
 * the 17th, …): a timer and an observation per message were a tenth of a live message's routing, and a
 * 1-in-16 sample still fills the buckets the quantiles are read from. Counters stay exact. A power of two.
 */
export const PROCESS_TIMING_SAMPLE_EVERY = 16;

const NAMES = {
  routed: "tidings_router_notifications_routed_total",
  deadLettered: "tidings_router_notifications_deadlettered_total",
  nodePublishes: "tidings_router_node_publishes_total",
  processDuration: "tidings_router_process_duration_seconds",
  registryKeys: "tidings_router_registry_keys",
  registryNodes: "tidings_router_registry_nodes",
  redeliveries: "tidings_router_jetstream_redeliveries_total",
  pending: "tidings_router_jetstream_pending",
  storeFailures: "tidings_router_store_failures_total",
  storeProbes: "tidings_router_store_probes_total",
  held: "tidings_router_held_notifications",
  heldOldestAge: "tidings_router_held_oldest_age_seconds",
} as const;

/** Every metric name the router exports (histograms by their base name), for dashboards and alert rules. */
export function metricNames(): string[] {
  return Object.values(NAMES);
}

export interface RouterMetrics {
  readonly routed: Counter;
  readonly deadLettered: Counter<"reason">;
  readonly nodePublishes: Counter;
  readonly processDuration: Histogram;
  readonly redeliveries: Counter;
  readonly storeFailures: Counter;
  readonly storeProbes: Counter;
  /** `routed.inc()` as a plain number, added to the counter when it is read (no labels object per message). */
  countRouted(): void;
  /** `nodePublishes.inc(count)`, the same way. */
  countNodePublishes(count: number): void;
  /**
   * Wires the gauges read at scrape time: registry size and live nodes, the JetStream consumer's
   * backlog (when the queue can tell) and the messages held while the store is down. Call once,
   * when the router is assembled.
   */
  observe(sources: MetricSources): void;
}

export interface MetricSources {
  registry: AudienceRegistry;
  pending?: () => Promise<number>;
  /** Messages held for the store, and when the oldest of them was first held (epoch ms; null: none). */
  held?: () => { count: number; oldestSince: number | null };
}

/** Seconds: one message's handling, from fetch to ack, store round trip included. */
const PROCESS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Registers the router's instruments on `registry` (one router per registry). */
export function createRouterMetrics(registry: Registry): RouterMetrics {
  const registers = [registry];
  let sources: MetricSources | null = null;
  let lastPending = 0;
  const routed = talliedCounter({ name: NAMES.routed, help: "Valid notifications routed to their owning nodes and acked.", registers });
  const nodePublishes = talliedCounter({
    name: NAMES.nodePublishes,
    help: "Messages published on tidings.v1.node.<id> subjects.",
    registers,
  });
  const metrics: RouterMetrics = {
    routed: routed.counter,
    deadLettered: new Counter({
      name: NAMES.deadLettered,
      help: "Envelopes republished to tidings.deadletter and acked, by reason.",
      labelNames: ["reason"],
      registers,
    }),
    nodePublishes: nodePublishes.counter,
    processDuration: new Histogram({
      name: NAMES.processDuration,
      help: "Time to handle one ingest message, from delivery to ack (or nak); 1 message in 16 is timed.",
      buckets: PROCESS_BUCKETS,
      registers,
    }),
    redeliveries: new Counter({ name: NAMES.redeliveries, help: "Ingest messages delivered more than once.", registers }),
    storeFailures: new Counter({
      name: NAMES.storeFailures,
      help: "Saves of persisted notifications that failed transiently (store down or slow); the message is held and retried.",
      registers,
    }),
    storeProbes: new Counter({ name: NAMES.storeProbes, help: "Health probes sent to the store while it was considered down.", registers }),
    countRouted() {
      routed.add(1);
    },
    countNodePublishes(count) {
      nodePublishes.add(count);
    },
    observe(s) {
      sources = s;
    },
  };
  new Gauge({
    name: NAMES.registryKeys,
    help: "Audience-key memberships (key, node) in this router's registry.",
    registers,
    collect() {
      this.set(sources?.registry.size() ?? 0);
    },
  });
  new Gauge({
    name: NAMES.registryNodes,
    help: "Live gateway nodes in this router's registry.",
    registers,
    collect() {
      this.set(sources?.registry.liveNodes().size ?? 0);
    },
  });
  new Gauge({
    name: NAMES.pending,
    help: "Messages in the TIDINGS stream not yet delivered to any router (consumer num_pending), sampled at scrape.",
    registers,
    async collect() {
      const pending = sources?.pending;
      if (pending !== undefined) {
        try {
          lastPending = await pending();
        } catch {
          // JetStream unreachable right now: report the last known value.
        }
      }
      this.set(lastPending);
    },
  });
  new Gauge({
    name: NAMES.held,
    help: "Persisted ingest messages in this router not yet saved: held (unacked, kept alive) while the store is down or an earlier one of their audience waits.",
    registers,
    collect() {
      this.set(sources?.held?.().count ?? 0);
    },
  });
  new Gauge({
    name: NAMES.heldOldestAge,
    help: "How long the oldest held persisted ingest message has waited for its save, in seconds; 0 when none is held.",
    registers,
    collect() {
      const since = sources?.held?.().oldestSince ?? null;
      this.set(since === null ? 0 : (Date.now() - since) / 1000);
    },
  });
  for (const reason of Object.values(DeadLetterReason)) metrics.deadLettered.labels(reason).inc(0);
  return metrics;
}

/**
 * A counter for a per-message count: `add` tallies a plain number, and the counter's `collect` (run by
 * every read: scrape, `get()`) adds the tally, so every read is exact and no labels object is made per
 * message, as `inc()` makes one per call.
 */
function talliedCounter(config: { name: string; help: string; registers: Registry[] }): { counter: Counter; add(n: number): void } {
  let tally = 0;
  const counter = new Counter({
    ...config,
    collect() {
      if (tally === 0) return;
      this.inc(tally);
      tally = 0;
    },
  });
  return {
    counter,
    add(n) {
      tally += n;
    },
  };
}

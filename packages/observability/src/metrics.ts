import { collectDefaultMetrics, Registry } from "prom-client";
import { unexpectedErrors } from "./unexpected.js";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/**
 * A fresh registry with Node/process metrics (CPU, RSS, event-loop lag, GC) under `prefix`, e.g.
 * `tidings_gateway_`. One registry per process; each service registers its own instruments on it.
 */
export function createRegistry(prefix: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix, eventLoopMonitoringPrecision: 20 });
  registry.registerMetric(unexpectedErrors);
  return registry;
}

/** Latency buckets (seconds) for sub-millisecond hot-path work up to multi-second stalls. */
export const FAST_BUCKETS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1];
/** Buckets (seconds) for network round trips and end-to-end delivery. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

import { collectDefaultMetrics, Gauge, Registry } from "prom-client";
import { unexpectedErrors } from "./unexpected.js";

export { Counter, Gauge, Histogram, Registry } from "prom-client";

/** What a running build is: its `version` and source `revision` (TIDINGS_BUILD_VERSION / TIDINGS_BUILD_REVISION). */
export interface BuildInfo {
  version: string;
  revision: string;
}

/**
 * A fresh registry for one process: Node/process metrics under their standard names (`process_*`,
 * `nodejs_*`, as stock Node.js dashboards expect; the scrape job tells the components apart),
 * `tidings_build_info{version,revision,node}` = 1 and `tidings_unexpected_errors_total`. Each service
 * registers its own `tidings_<service>_*` instruments on it.
 */
export function createRegistry(opts: { node: string; build: BuildInfo }): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
  new Gauge({
    name: "tidings_build_info",
    help: "Always 1; the labels name the running build (version, source revision) and this process's node id.",
    labelNames: ["version", "revision", "node"] as const,
    registers: [registry],
  }).set({ version: opts.build.version, revision: opts.build.revision, node: opts.node }, 1);
  registry.registerMetric(unexpectedErrors);
  return registry;
}

/** Exports every combination of `values` at 0 from the start, so rate() and alerts see each series before its first event. */
export function presetLabels<C extends { inc(labels: Record<string, string>, value: number): void }>(
  counter: C,
  values: Readonly<Record<string, readonly string[]>>,
): C {
  let combos: Array<Record<string, string>> = [{}];
  for (const [label, options] of Object.entries(values)) combos = combos.flatMap((c) => options.map((v) => ({ ...c, [label]: v })));
  for (const labels of combos) counter.inc(labels, 0);
  return counter;
}

/** Latency buckets (seconds) for sub-millisecond hot-path work up to multi-second stalls. */
export const FAST_BUCKETS = [0.00001, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1];
/** Buckets (seconds) for network round trips and end-to-end delivery. */
export const LATENCY_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

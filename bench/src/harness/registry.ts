/**
 * Every benchmark harness by name, in run order. To add one: implement `Harness` (see context.ts),
 * write its result with the shape of results.ts, and list it here; `--only <name>` picks it and the
 * summary shows it. An `external` harness is run by another program that writes
 * `bench/results/<name>.json`; the summary includes that file when it exists.
 */
import { connectRate } from "./connect-rate.js";
import { connections100k } from "./connections-100k.js";
import type { Harness } from "./context.js";
import { e2eLatency } from "./e2e-latency.js";
import { fanoutCpu, fanoutOne, ingestHttp, ingestHttpOne, peers } from "./fanout.js";
import { idleRss } from "./idle-rss.js";

export const HARNESSES: readonly Harness[] = [
  fanoutCpu,
  peers,
  fanoutOne,
  ingestHttp,
  ingestHttpOne,
  idleRss,
  connectRate,
  e2eLatency,
  connections100k,
  {
    name: "router",
    title: "Router throughput with a registry of 1,000,000 audience keys",
    external: "services/router/bench/registry-bench.ts writes bench/results/router.json (and router.md)",
    target: "≥ 100,000 notifications/s with 1,000,000 audience keys",
  },
];

export function findHarness(name: string): Harness | undefined {
  return HARNESSES.find((h) => h.name === name);
}

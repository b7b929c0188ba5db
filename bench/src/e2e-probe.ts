/**
 * Diagnostic, not part of `pnpm bench`: the e2e-latency cases of one target, audience and producer
 * with a long measured window, to profile its processes while they run (`perf record -g -p <pid>`
 * with PROBE_NODE_FLAGS=--perf-basic-prof, `strace -c -f -p <pid>`; the pids are logged at start).
 *   PROBE_TARGET=cluster|floor|standalone PROBE_MODE=http|jetstream PROBE_AUDIENCE=group|global
 *   PROBE_WINDOW_S=30 PROBE_RATE=5000 (notifications/s) PROBE_TAP=1 (stage run) PROBE_NODE_FLAGS="…"
 *   PROBE_SWEEP=1000,2500 PROBE_SWEEP_S=10 (Group, JetStream: the case again at these rates)
 *   PROBE_TRACE_DIR=<a new or empty directory> (the late deliveries against every process's GC pauses, e2e/tail-trace.ts:
 *   each Node process loads scripts/gc-trace.mjs through NODE_OPTIONS, nats-server runs with GODEBUG=gctrace=1;
 *   printed per case in the order run, the discarded pre-warm first)
 *   npx tsx src/e2e-probe.ts
 */
import { mkdirSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { RunContext } from "./harness/context.js";
import { FULL, measureTarget } from "./harness/e2e-latency.js";
import type { ProducerMode } from "./e2e/producer.js";
import type { Audience } from "./e2e/payload.js";
import { formatAttribution, readTrace } from "./e2e/tail-trace.js";

const env = (name: string, fallback: string) => process.env[name] ?? fallback;
const ctx = new RunContext({
  quick: false,
  profile: false,
  reps: 1,
  resultsDir: mkdtempSync(join(tmpdir(), "tidings-e2e-probe-")),
  command: "e2e-probe",
});
const traceDir = process.env["PROBE_TRACE_DIR"] === undefined ? undefined : resolve(process.env["PROBE_TRACE_DIR"]);
if (traceDir !== undefined) {
  mkdirSync(traceDir, { recursive: true });
  // inherited by every process this one starts: the bench's children and the Tidings processes
  process.env["E2E_TRACE_DIR"] = traceDir;
  const gcTrace = new URL("../scripts/gc-trace.mjs", import.meta.url).href;
  process.env["NODE_OPTIONS"] = `${process.env["NODE_OPTIONS"] ?? ""} --import=${gcTrace}`.trim();
}
const sweepRates = env("PROBE_SWEEP", "")
  .split(",")
  .filter((s) => s !== "")
  .map(Number);
const cases = await measureTarget(
  ctx,
  env("PROBE_TARGET", "cluster") as "cluster" | "floor" | "standalone",
  {
    ...FULL,
    windowS: Number(env("PROBE_WINDOW_S", "30")),
    rate: Number(env("PROBE_RATE", String(FULL.rate))),
    sweepRates: sweepRates,
    sweepS: Number(env("PROBE_SWEEP_S", String(FULL.sweepS))),
  },
  `probe${Date.now().toString(36)}`,
  {
    modes: [env("PROBE_MODE", "http") as ProducerMode],
    audiences: [env("PROBE_AUDIENCE", "group") as Audience],
    stageTap: env("PROBE_TAP", "0") === "1",
    sweep: sweepRates.length > 0,
    nodeFlags: env("PROBE_NODE_FLAGS", "")
      .split(" ")
      .filter((s) => s !== ""),
    ...(traceDir === undefined ? {} : { traceDir }),
  },
);
for (const c of cases)
  console.log(
    JSON.stringify({
      diagnostic: c.diagnostic,
      rate: c.rate,
      latencyMs: c.latencyMs,
      cpuUsPerNotification: c.cpuUsPerNotification,
      stages: c.stages,
      runQueue: c.runQueue,
    }),
  );
if (traceDir !== undefined)
  for (const [caseNo, a] of [...readTrace(traceDir)].sort((x, y) => x[0] - y[0])) console.log(formatAttribution(caseNo, a));
process.exit(0);

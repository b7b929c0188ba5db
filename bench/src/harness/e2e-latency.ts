/**
 * End-to-end latency, producer → client, at a fixed publish rate through a real local cluster:
 * nats-server (JetStream), one store service, one router and three gateway nodes, each its own OS
 * process started as `pnpm start` would. Clients (one process, raw WebSocket SignalR JSON,
 * skipNegotiation) hold connections spread over the gateways; a producer process publishes over
 * HTTP to the gateways and, as a second case, straight to JetStream. Baseline in the same run: the
 * same clients and producer against one standalone process (in-process routing, no NATS).
 */
import { execFileSync } from "node:child_process";
import * as hdr from "hdr-histogram-js";
import { Child } from "../proc.js";
import type { ResultRow } from "../results.js";
import { significant } from "../stats.js";
import type { ArmArgs, LatencyClientArgs, LatencyOpenArgs, LatencyOpenResult, LatencyReport } from "../e2e/latency-client.js";
import type { Audience } from "../e2e/payload.js";
import type { ProduceArgs, ProduceResult, ProducerArgs, ProducerMode } from "../e2e/producer.js";
import type { StageArmArgs, StageReport, StageTapArgs } from "../e2e/stage-tap.js";
import type { FloorArgs } from "../e2e/floor.js";
import { startCluster, startStandalone, type Target } from "../e2e/tidings.js";
import { natsGcWriter } from "../e2e/tail-trace.js";
import { startNats, type NatsServerOptions } from "@tidings/testkit";
import { procCpuUs, procRunQueueWait } from "../server/centrifugo.js";
import { currentLoad, type Harness, type RunContext } from "./context.js";

const TARGET_P99_MS = 5;
/** longest wait for the backlog of a case to drain after the producer finished */
const DRAIN_MAX_MS = 120_000;
let caseCounter = 0;

export interface Sizes {
  rate: number;
  windowS: number;
  warmupS: number;
  /** a discarded run per target and producer before the measured cases */
  prewarmS: number;
  /** cluster only: a separate run per audience and producer with the per-stage tap (diagnostic) */
  stagesS: number;
  /** cluster and floor, Group, JetStream ingest: the same case at these lower rates too, `sweepS` s each (latency against rate) */
  sweepRates: readonly number[];
  sweepS: number;
  /** connections of the Group cases, spread over the gateways */
  groupConnections: number;
  /** groups; connection i joins g-(i % groups), so each group has members on every gateway */
  groups: number;
  /** connections of the Global cases (every one receives every notification) */
  globalConnections: number;
  gateways: number;
}

export const FULL: Sizes = {
  rate: 5000,
  windowS: 20,
  warmupS: 2,
  prewarmS: 3,
  stagesS: 8,
  sweepRates: [1000, 2500],
  sweepS: 10,
  groupConnections: 1000,
  groups: 250,
  globalConnections: 6,
  gateways: 3,
};
const QUICK: Sizes = {
  rate: 1000,
  windowS: 3,
  warmupS: 1,
  prewarmS: 1,
  stagesS: 1,
  sweepRates: [],
  sweepS: 0,
  groupConnections: 300,
  groups: 75,
  globalConnections: 6,
  gateways: 3,
};

export interface LatencyMs {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface E2eCase {
  target: TargetKind;
  /** a run with the per-stage tap, for its stage timings only (not a measured case) */
  diagnostic: boolean;
  /** a run at one of `Sizes.sweepRates`, for the latency-against-rate rows only */
  sweep: boolean;
  audience: Audience;
  mode: ProducerMode;
  connections: number;
  groups: number;
  rate: number;
  total: number;
  warmup: number;
  latencyMs: LatencyMs;
  samples: number;
  deliveries: {
    expected: number;
    received: number;
    lost: number;
    duplicates: number;
    warmupLost: number;
    foreign: number;
    closedByServer: number;
  };
  producer: ProduceResult;
  /** from the producer's last answer to the last delivery (backlog still draining) */
  drainMs: number;
  clientCpuUs: number;
  /** `uptime` before and after the case */
  uptimeBefore: string;
  uptimeAfter: string;
  /** cluster only: producer send → seen on the ingest subject / on gateway-1's node subject */
  stages?: { ingest: LatencyMs; routed: LatencyMs };
  /** CPU of every process on the path over the case, % of one core */
  cpuPercent: Record<string, number>;
  /** CPU of every process on the path over the case ÷ notifications sent, µs */
  cpuUsPerNotification: Record<string, number>;
  /**
   * Per process over the case: % of the wall time its event loop (nats-server: all its threads)
   * was runnable but waiting for a core, and the mean wait each time it got one, µs.
   */
  runQueue?: Record<string, { waitPercent: number; meanWaitUs: number }>;
}

function latencyOf(h: hdr.Histogram): LatencyMs {
  return {
    p50: ms(h.getValueAtPercentile(50)),
    p90: ms(h.getValueAtPercentile(90)),
    p99: ms(h.getValueAtPercentile(99)),
    p999: ms(h.getValueAtPercentile(99.9)),
    max: ms(h.maxValue),
    mean: ms(h.mean),
  };
}

/** `read` of every process still running, by name; a process that is gone is left out. */
function ofEach<T>(pids: Record<string, number>, read: (pid: number, name: string) => T): Record<string, T> {
  const out: Record<string, T> = {};
  for (const [name, pid] of Object.entries(pids)) {
    try {
      out[name] = read(pid, name);
    } catch {
      // the process is gone: left out
    }
  }
  return out;
}

function cpuOf(pids: Record<string, number>): Record<string, number> {
  return ofEach(pids, (pid) => {
    const c = procCpuUs(pid);
    return c.userUs + c.systemUs;
  });
}

function runQueueOf(pids: Record<string, number>): Record<string, { waitUs: number; slices: number }> {
  return ofEach(pids, (pid, name) => procRunQueueWait(pid, name !== "nats"));
}

function uptime(): string {
  try {
    return execFileSync("uptime", { encoding: "utf8" }).trim();
  } catch {
    return `load average: ${currentLoad()
      .map((x) => x.toFixed(2))
      .join(", ")}`;
  }
}

function ms(us: number): number {
  return significant(us / 1000, 3);
}

async function runCase(
  ctx: RunContext,
  target: Target,
  client: Child,
  producer: Child,
  tap: Child | null,
  pids: Record<string, number>,
  mode: ProducerMode,
  sizes: Sizes,
  audience: Audience,
  connections: number,
  runTag: string,
  opts: { windowS: number; prewarm: boolean; diagnostic?: boolean; sweep?: boolean },
): Promise<E2eCase> {
  const total = sizes.rate * (sizes.warmupS + opts.windowS);
  const warmup = sizes.rate * sizes.warmupS;
  const caseNo = ++caseCounter;
  const diagnostic = opts.diagnostic === true;
  const sweep = opts.sweep === true;
  const caseId = `${runTag}-${caseNo}-${target.label}-${audience}-${mode}${opts.prewarm ? "-prewarm" : diagnostic ? "-stages" : sweep ? `-at${sizes.rate}` : ""}`;
  const arm: ArmArgs = { caseNo, total, warmup, audience, groups: sizes.groups };
  await client.call("arm", arm);
  await tap?.call("arm", { caseNo, warmup } satisfies StageArmArgs);
  const uptimeBefore = uptime();
  const cpuBefore = await client.call<LatencyReport>("report");
  const procBefore = cpuOf(pids);
  const queueBefore = runQueueOf(pids);
  const wallBefore = performance.now();
  const produced = await producer.call<ProduceResult>("produce", {
    caseId,
    caseNo,
    rate: sizes.rate,
    total,
    audience,
    groups: sizes.groups,
    maxInFlight: 2000,
  } satisfies ProduceArgs);
  // Let the backlog drain, so the next case starts clean: until every delivery is in, or nothing
  // new came for 3 s, or DRAIN_MAX_MS passed. `drainMs` is from the last send to the last progress.
  const drainStart = Date.now();
  let last = -1;
  let lastProgress = drainStart;
  for (;;) {
    const r = await client.call<{ received: number; expected: number }>("received");
    if (r.received !== last) {
      last = r.received;
      lastProgress = Date.now();
    }
    if (r.received >= r.expected || Date.now() - lastProgress > 3000 || Date.now() - drainStart > DRAIN_MAX_MS) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  const drainMs = lastProgress - drainStart;
  const rep = await client.call<LatencyReport>("report");
  const procAfter = cpuOf(pids);
  const queueAfter = runQueueOf(pids);
  const wallUs = (performance.now() - wallBefore) * 1000;
  const runQueue: Record<string, { waitPercent: number; meanWaitUs: number }> = {};
  for (const [name, after] of Object.entries(queueAfter)) {
    const before = queueBefore[name] ?? after;
    const waitUs = after.waitUs - before.waitUs;
    runQueue[name] = {
      waitPercent: significant((100 * waitUs) / wallUs, 3),
      meanWaitUs: significant(waitUs / Math.max(1, after.slices - before.slices), 3),
    };
  }
  const cpuPercent: Record<string, number> = {};
  const cpuUsPerNotification: Record<string, number> = {};
  for (const [name, us] of Object.entries(procAfter)) {
    const used = us - (procBefore[name] ?? us);
    cpuPercent[name] = Math.round((100 * used) / wallUs);
    cpuUsPerNotification[name] = significant(used / Math.max(1, produced.sent), 3);
  }
  const uptimeAfter = uptime();
  const h = hdr.decodeFromCompressedBase64(rep.histogram);
  const latencyMs = latencyOf(h);
  const samples = h.totalCount;
  h.destroy();
  let stages: E2eCase["stages"];
  if (tap !== null) {
    const sr = await tap.call<StageReport>("report");
    const hi = hdr.decodeFromCompressedBase64(sr.ingest);
    const hr = hdr.decodeFromCompressedBase64(sr.routed);
    stages = { ingest: latencyOf(hi), routed: latencyOf(hr) };
    hi.destroy();
    hr.destroy();
  }
  const c: E2eCase = {
    target: target.label as TargetKind,
    diagnostic,
    sweep,
    audience,
    mode,
    connections,
    groups: audience === "group" ? sizes.groups : 0,
    rate: sizes.rate,
    total,
    warmup,
    latencyMs,
    samples,
    deliveries: {
      expected: rep.expected,
      received: rep.received,
      lost: rep.lost,
      duplicates: rep.duplicates,
      warmupLost: rep.warmupLost,
      foreign: rep.foreign,
      closedByServer: rep.closedByServer,
    },
    producer: produced,
    drainMs,
    clientCpuUs: rep.cpuUserUs + rep.cpuSystemUs - (cpuBefore.cpuUserUs + cpuBefore.cpuSystemUs),
    uptimeBefore,
    uptimeAfter,
    ...(stages === undefined ? {} : { stages }),
    cpuPercent,
    cpuUsPerNotification,
    runQueue,
  };
  ctx.log(
    `${opts.prewarm ? "(pre-warm, discarded) " : diagnostic ? "(stage diagnostic) " : ""}${target.label} ${audience} via ${mode}${sweep ? ` at ${sizes.rate}/s` : ""}: p50 ${latencyMs.p50} / p90 ${latencyMs.p90} / p99 ${latencyMs.p99} / p999 ${latencyMs.p999} / max ${latencyMs.max} ms; ` +
      `sent ${produced.sent} at ${produced.achievedRate}/s (${produced.failed} failed), ${rep.received}/${rep.expected} delivered, ${rep.lost} lost, ${rep.duplicates} dup, drained ${drainMs} ms after the last send; ` +
      `${uptimeAfter.replace(/^.*load average/, "load average")}`,
  );
  if (stages !== undefined) {
    const st = (l: LatencyMs) => `p50 ${l.p50} / p99 ${l.p99} / p999 ${l.p999} / max ${l.max} ms`;
    ctx.log(`  send → ingest subject ${st(stages.ingest)}; send → node subject ${st(stages.routed)}`);
  }
  ctx.log(
    `  CPU % of a core: ${Object.entries(cpuPercent)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; CPU µs per notification: ${Object.entries(cpuUsPerNotification)
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ", ",
      )}; run-queue wait % of wall / mean µs per wait: ${runQueueText(runQueue)}; ack p50 ${ms(produced.ackUs.p50)} / p99 ${ms(produced.ackUs.p99)} ms, send lag p99 ${ms(produced.lagUs.p99)} ms`,
  );
  if (produced.failed > 0) ctx.log(`  producer errors: ${produced.errors.join("; ")}`);
  return c;
}

async function openAll(ctx: RunContext, client: Child, target: Target, count: number, groups: number): Promise<void> {
  const open: LatencyOpenArgs = { ports: target.ports, first: 0, count, addrs: ctx.addresses.takeMany(2), groups, concurrency: 64 };
  const r = await client.call<LatencyOpenResult>("open", open);
  if (r.failed > 0) throw new Error(`${r.failed} of ${count} connections failed: ${r.errors.join("; ")}`);
  ctx.log(`${target.label}: ${r.opened} connections open${groups > 0 ? ` in ${groups} groups` : ""} in ${Math.round(r.ms)} ms`);
}

/** Which cases `measureTarget` runs (all by default); the probe script narrows them. */
export interface CaseFilter {
  audiences?: readonly Audience[];
  modes?: readonly ProducerMode[];
  /**
   * per-stage timings (a NATS subscriber on the ingest and one node subject) in a separate diagnostic
   * case per audience and producer after the measured ones: it is an extra busy process
   */
  stageTap?: boolean;
  /** `node` flags of the Tidings processes (profiling) */
  nodeFlags?: readonly string[];
  /** the Group case with JetStream ingest again at each of `Sizes.sweepRates` (cluster and floor) */
  sweep?: boolean;
  /** nats-server's GC trace goes to this directory (e2e/tail-trace.ts; the Node processes' come from E2E_TRACE_DIR) */
  traceDir?: string;
}

/** The floor (see e2e/floor.ts): nats-server, a bare JetStream consumer and `gateways` bare uWS servers. */
async function startFloor(gateways: number, natsOptions: NatsServerOptions): Promise<Target> {
  const nats = await startNats({ ...natsOptions, jetstream: true });
  const children: Child[] = [];
  const stop = async () => {
    for (const c of [...children].reverse()) await c.call("close").catch(() => undefined);
    for (const c of [...children].reverse()) await c.stop();
    await nats.stop();
  };
  try {
    const file = new URL("../e2e/floor.ts", import.meta.url);
    children.push(await Child.start("floor router", file, { role: "router", natsUrl: nats.url, nodes: gateways } satisfies FloorArgs));
    const ports: number[] = [];
    for (let i = 0; i < gateways; i++) {
      const g = await Child.start(`floor gateway-${i + 1}`, file, { role: "gateway", natsUrl: nats.url, node: i } satisfies FloorArgs);
      children.push(g);
      ports.push((g.readyData as { port: number }).port);
    }
    const pids: Record<string, number> = { nats: nats.pid, router: children[0]!.pid };
    children.slice(1).forEach((c, i) => (pids[`gateway-${i + 1}`] = c.pid));
    return { label: "floor", ports, natsUrl: nats.url, pids, processes: [], stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

export type TargetKind = "cluster" | "standalone" | "floor";

export async function measureTarget(
  ctx: RunContext,
  which: TargetKind,
  sizes: Sizes,
  runTag: string,
  filter: CaseFilter = {},
): Promise<E2eCase[]> {
  const natsOptions = filter.traceDir === undefined ? {} : { env: { GODEBUG: "gctrace=1" }, output: natsGcWriter(filter.traceDir) };
  const target =
    which === "cluster"
      ? await startCluster(sizes.gateways, {}, filter.nodeFlags, natsOptions)
      : which === "floor"
        ? await startFloor(sizes.gateways, natsOptions)
        : await startStandalone();
  const children: Child[] = [];
  const cases: E2eCase[] = [];
  try {
    ctx.log(
      `${which}: up (${Object.entries(target.pids)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}), ports ${target.ports.join(", ")}`,
    );
    const client = await Child.start("e2e client", new URL("../e2e/latency-client.ts", import.meta.url), {
      index: 0,
    } satisfies LatencyClientArgs);
    children.push(client);
    const pids: Record<string, number> = { ...target.pids, client: client.pid };
    const available: readonly ProducerMode[] = which === "cluster" ? ["http", "jetstream"] : which === "floor" ? ["jetstream"] : ["http"];
    const modes = available.filter((m) => filter.modes?.includes(m) ?? true);
    const producers: Array<{ child: Child; mode: ProducerMode }> = [];
    for (const mode of modes) {
      const p = await Child.start(`e2e producer ${mode}`, new URL("../e2e/producer.ts", import.meta.url), {
        mode,
        ports: target.ports,
        natsUrl: target.natsUrl,
      } satisfies ProducerArgs);
      children.push(p);
      producers.push({ child: p, mode });
      pids[`producer-${mode}`] = p.pid;
    }
    let tap: Child | null = null;
    if (which === "cluster" && target.natsUrl !== null && filter.stageTap === true) {
      tap = await Child.start("e2e stage tap", new URL("../e2e/stage-tap.ts", import.meta.url), {
        natsUrl: target.natsUrl,
        nodeId: "bench-gw-1",
      } satisfies StageTapArgs);
      children.push(tap);
    }
    const settleMs = target.natsUrl === null ? 300 : 1500; // the gateways announce memberships to the router
    for (const audience of (["group", "global"] as const).filter((a) => filter.audiences?.includes(a) ?? true)) {
      const count = audience === "group" ? sizes.groupConnections : sizes.globalConnections;
      await openAll(ctx, client, target, count, audience === "group" ? sizes.groups : 0);
      await new Promise((r) => setTimeout(r, settleMs));
      // JIT and connection warm-up of every process on the path, once per target and producer, discarded
      if (audience === "group") {
        for (const p of producers)
          await runCase(ctx, target, client, p.child, null, pids, p.mode, sizes, audience, count, runTag, {
            windowS: sizes.prewarmS,
            prewarm: true,
          });
      }
      for (const p of producers)
        cases.push(
          await runCase(ctx, target, client, p.child, null, pids, p.mode, sizes, audience, count, runTag, {
            windowS: sizes.windowS,
            prewarm: false,
          }),
        );
      if (filter.sweep === true && audience === "group")
        for (const p of producers.filter((x) => x.mode === "jetstream"))
          for (const rate of sizes.sweepRates)
            cases.push(
              await runCase(ctx, target, client, p.child, null, pids, p.mode, { ...sizes, rate }, audience, count, runTag, {
                windowS: sizes.sweepS,
                prewarm: false,
                sweep: true,
              }),
            );
      if (tap !== null)
        for (const p of producers)
          cases.push(
            await runCase(ctx, target, client, p.child, tap, { ...pids, "stage-tap": tap.pid }, p.mode, sizes, audience, count, runTag, {
              windowS: sizes.stagesS,
              prewarm: false,
              diagnostic: true,
            }),
          );
      await client.call("closeAll");
    }
    await Promise.all(
      [...producers.map((p) => p.child), ...(tap === null ? [] : [tap])].map((c) => c.call("close").catch(() => undefined)),
    );
  } finally {
    await Promise.all(children.map((c) => c.stop()));
    await target.stop();
  }
  return cases;
}

function label(c: E2eCase): string {
  const audience = c.audience === "group" ? `Group (${c.connections} conns, ${c.groups} groups)` : `Global (${c.connections} conns)`;
  return `${c.target}, ${audience}, ${c.mode === "http" ? "HTTP ingest" : "JetStream direct"}${c.sweep ? `, at ${c.rate.toLocaleString("en-US")}/s` : ""}`;
}

function totalCpuUs(c: E2eCase): number {
  // the idle producer of the other mode and the stage tap are not on the path
  return Object.entries(c.cpuUsPerNotification)
    .filter(([k]) => k !== "stage-tap" && !(k.startsWith("producer-") && k !== `producer-${c.mode}`))
    .reduce((sum, [, v]) => sum + v, 0);
}

/**
 * How long the processes every notification crosses waited for a core: the router's event loop (the
 * floor's bare consumer) and the gateways' (mean of them), % of the case's wall time.
 */
const WAITING: ReadonlyArray<readonly [string, (c: E2eCase) => number | null]> = [
  ["waiting for a core: router's event loop, % of the case", (c) => c.runQueue?.["router"]?.waitPercent ?? null],
  [
    "waiting for a core: each gateway's event loop (mean), % of the case",
    (c) => {
      const gateways = Object.entries(c.runQueue ?? {}).filter(([k]) => k.startsWith("gateway-"));
      if (gateways.length === 0) return null;
      return significant(gateways.reduce((sum, [, v]) => sum + v.waitPercent, 0) / gateways.length, 3);
    },
  ],
];

/** Cluster and standalone rows against the floor of the same audience, measured in the same run. */
export function e2eRows(cases: readonly E2eCase[]): ResultRow[] {
  const rows: ResultRow[] = [];
  const floorOf = (c: E2eCase) =>
    cases.find((b) => b.target === "floor" && b.audience === c.audience && b.rate === c.rate && b.sweep === c.sweep);
  const vsFloor = (
    metric: string,
    c: E2eCase,
    unit: string,
    value: number,
    base: number | null,
    extra: Partial<ResultRow> = {},
  ): ResultRow => ({
    metric,
    case: label(c),
    unit,
    value,
    baseline: { name: "floor (bare NATS + uWS)", value: base },
    ratio: base === null || base <= 0 ? null : significant(value / base, 3),
    ...extra,
  });
  const cpuRow = (c: E2eCase, floor: E2eCase | undefined): ResultRow =>
    vsFloor(
      "CPU per notification, all processes",
      c,
      "µs",
      significant(totalCpuUs(c), 3),
      floor === undefined ? null : significant(totalCpuUs(floor), 3),
    );
  for (const c of cases.filter((x) => x.target !== "floor" && !x.diagnostic && !x.sweep)) {
    const floor = floorOf(c);
    const stages = cases.find((d) => d.diagnostic && d.target === c.target && d.audience === c.audience && d.mode === c.mode)?.stages;
    for (const [metric, key] of [
      ["p50 latency", "p50"],
      ["p99 latency", "p99"],
      ["p99.9 latency", "p999"],
    ] as const) {
      const target = key === "p99" && c.target === "cluster" ? { target: { op: "<=", value: TARGET_P99_MS, on: "value" } as const } : {};
      rows.push(vsFloor(metric, c, "ms", c.latencyMs[key], floor?.latencyMs[key] ?? null, target));
    }
    if (stages !== undefined) {
      rows.push({
        metric: "p99 send → ingest subject (stage run)",
        case: label(c),
        unit: "ms",
        value: stages.ingest.p99,
        note: `p50 ${stages.ingest.p50} ms`,
      });
      rows.push({
        metric: "p99 send → node subject, router out (stage run)",
        case: label(c),
        unit: "ms",
        value: stages.routed.p99,
        note: `p50 ${stages.routed.p50} ms`,
      });
    }
    rows.push(cpuRow(c, floor));
    if (c.target === "cluster") {
      for (const [metric, of] of WAITING) {
        const value = of(c);
        if (value !== null) rows.push(vsFloor(metric, c, "%", value, floor === undefined ? null : of(floor)));
      }
    }
  }
  // Latency against rate: where on this box the tail comes down to the target, the floor beside it.
  for (const c of cases.filter((x) => x.target === "cluster" && x.sweep)) {
    const floor = floorOf(c);
    for (const [metric, key] of [
      ["p50 latency", "p50"],
      ["p99 latency", "p99"],
    ] as const) {
      rows.push(vsFloor(metric, c, "ms", c.latencyMs[key], floor?.latencyMs[key] ?? null));
    }
    rows.push(cpuRow(c, floor));
  }
  for (const c of cases.filter((x) => x.target === "floor")) {
    for (const [metric, key] of [
      ["p50 latency", "p50"],
      ["p99 latency", "p99"],
      ["p99.9 latency", "p999"],
    ] as const) {
      rows.push({ metric, case: label(c), unit: "ms", value: c.latencyMs[key], note: "the floor itself" });
    }
    rows.push({ metric: "CPU per notification, all processes", case: label(c), unit: "µs", value: significant(totalCpuUs(c), 3) });
  }
  for (const c of cases.filter((x) => !x.diagnostic)) {
    rows.push({
      metric: "delivered / lost / dup",
      case: label(c),
      unit: "",
      value: c.deliveries.received,
      note: `${c.deliveries.lost} lost, ${c.deliveries.duplicates} dup of ${c.deliveries.expected}`,
    });
  }
  return rows;
}

function runQueueText(q: Record<string, { waitPercent: number; meanWaitUs: number }>): string {
  return Object.entries(q)
    .map(([k, v]) => `${k} ${v.waitPercent}% / ${v.meanWaitUs} µs`)
    .join(", ");
}

function caseNote(c: E2eCase): string {
  const l = c.latencyMs;
  const p = c.producer;
  return (
    `${label(c)}${c.diagnostic ? " (stage run, with the tap)" : ""}: p50 ${l.p50} / p90 ${l.p90} / p99 ${l.p99} / p99.9 ${l.p999} / max ${l.max} ms over ${c.samples.toLocaleString("en-US")} deliveries; ` +
    `published ${p.sent.toLocaleString("en-US")} at ${p.achievedRate.toLocaleString("en-US")}/s (target ${c.rate.toLocaleString("en-US")}/s; send lag p99 ${ms(p.lagUs.p99)} ms; ` +
    `${p.mode === "http" ? "202" : "JetStream ack"} p50 ${ms(p.ackUs.p50)} / p99 ${ms(p.ackUs.p99)} ms; ${p.failed} failed); ` +
    `${c.deliveries.lost} lost, ${c.deliveries.duplicates} duplicates of ${c.deliveries.expected.toLocaleString("en-US")} expected (warm-up lost ${c.deliveries.warmupLost}); ` +
    `last delivery ${(c.drainMs / 1000).toFixed(1)} s after the last send; ` +
    (c.stages === undefined
      ? ""
      : `send → ingest subject p50 ${c.stages.ingest.p50} / p99 ${c.stages.ingest.p99} ms, send → node subject p50 ${c.stages.routed.p50} / p99 ${c.stages.routed.p99} ms; `) +
    `CPU µs per notification: ${Object.entries(c.cpuUsPerNotification)
      .map(([k, v]) => `${k} ${v}`)
      .join(", ")}; ` +
    (c.runQueue === undefined ? "" : `waiting for a core (% of the case's wall time / mean wait): ${runQueueText(c.runQueue)}; `) +
    `\`${c.uptimeAfter.replace(/^.*load average/, "load average")}\` after`
  );
}

export const e2eLatency: Harness = {
  name: "e2e-latency",
  title: "End-to-end latency producer → client at 5,000 notifications/s (NATS + router + 3 gateways)",
  async run(ctx) {
    const started = new Date();
    const loadBefore = currentLoad();
    const sizes = ctx.opts.quick ? QUICK : FULL;
    const runTag = `e2e${Date.now().toString(36)}`;
    ctx.log(`e2e-latency: ${uptime()}`);
    // The floor right after the cluster, so both see much the same load from the rest of the machine.
    const cases = [
      ...(await measureTarget(ctx, "cluster", sizes, runTag, { stageTap: true, sweep: true })),
      ...(await measureTarget(ctx, "floor", sizes, runTag, { sweep: true })),
      ...(await measureTarget(ctx, "standalone", sizes, runTag)),
    ];
    return ctx.result("e2e-latency", this.title, started, loadBefore, {
      params: { ...sizes },
      rows: e2eRows(cases),
      notes: [
        `Cluster: nats-server -js, store (TIDINGS_ROLE=store, embedded PGlite), router, ${sizes.gateways} gateways (TIDINGS_ROLE=gateway), each its own process. ` +
          `Baseline, the floor, measured in the same run right after the cluster: nats-server -js, a bare JetStream consumer process (the same durable pull consumer, explicit acks and concurrency as the router, ` +
          `republishing each message's bytes unchanged with core NATS to every floor gateway) and ${sizes.gateways} bare uWebSockets.js processes (fixed SignalR handshake and Subscribe answers; ` +
          "each message wrapped in an invocation record and published to its group's topic), fed by the same producer (JetStream) and read by the same clients: " +
          "what the machine, nats-server, JetStream and the sockets cost at this rate with this many busy processes. " +
          "Standalone: one process (TIDINGS_ROLE=all, no NATS, in-process routing), HTTP ingest. All on this machine, sharing its 2 cores with the clients, the producer and whatever else runs.",
        'Per-stage timings (cluster, the rows marked "stage run"): a NATS subscriber process records send → the message on `tidings.notify.>` (accepted into nats-server) and send → on `tidings.v1.node.bench-gw-1` (published by the router); ' +
          `the rest of a case's latency is gateway delivery and the client. The subscriber is an extra busy process and two more subscriptions on nats-server, so it runs only in separate ${sizes.stagesS} s stage runs after the measured cases (subscribed only during them), never in a measured case nor in the floor. ` +
          "CPU per notification = user + system CPU of each process on the path over the case (from /proc) ÷ notifications sent (idle processes left out). " +
          "Waiting for a core = the time a process's event loop (nats-server: all its threads) was runnable but not running over the case (/proc/<pid>/task/<tid>/schedstat), as % of the case's wall time, with the mean wait each time it got a core: the box's share of the tail, read per process; the floor's bare consumer stands in the router's row.",
        `Producer: ${sizes.rate.toLocaleString("en-US")} notifications/s open loop for ${sizes.warmupS} s warm-up + ${sizes.windowS} s measured; ` +
          "HTTP ingest = one notification per `POST /api/notifications`, round robin over the gateways (202 after the JetStream ack in the cluster), on a pool of at most 64 keep-alive connections per gateway (waiting for one counts as latency), " +
          "sent by a minimal HTTP/1.1 client of the bench's own (one request at a time per connection, as `node:http`'s keep-alive agent sent them, at a fraction of its CPU); " +
          "JetStream direct = `JetStreamIngestQueue.publish` on `tidings.notify.bench` with `Nats-Msg-Id`." +
          (sizes.sweepRates.length === 0
            ? ""
            : ` Latency against rate (rows "at N/s"): the Group case with JetStream ingest again at ${sizes.sweepRates.map((r) => `${r.toLocaleString("en-US")}/s`).join(" and ")}, ` +
              `${sizes.warmupS} s warm-up + ${sizes.sweepS} s measured each, right after the measured cases, in the cluster and in the floor: how the tail follows the load of the box.`),
        `Latency = client receipt − producer send time (\`performance.timeOrigin + performance.now()\`, same host), per delivery, HDR histogram (µs). ` +
          "The clients (one process, raw TCP WebSocket) read each socket into one shared buffer and find the three numbers they need (case, sequence, send time) by byte search, without parsing the message; the floor and the cluster share them. " +
          `Group: connection i joins g-(i mod ${sizes.groups}) and sits on gateway i mod ${sizes.gateways}, notification s goes to g-(s mod ${sizes.groups}); ` +
          `Global: ${sizes.globalConnections} connections, each receives every notification. ` +
          "Send time = when the producer actually sent; when it fell behind its schedule (send lag below) the queueing before the send is not in the latency. " +
          `"Lost" = not delivered when nothing new arrived for 3 s (or ${DRAIN_MAX_MS / 1000} s after the last send); each case waits for the previous one's backlog to drain. ` +
          `Before the measured cases each target gets a discarded ${sizes.prewarmS} s run per producer (JIT warm-up).`,
        ...cases.map(caseNote),
      ],
      cases,
    });
  },
};

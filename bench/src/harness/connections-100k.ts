/**
 * Many concurrent connections on one box: a real cluster (nats-server with JetStream, store, router
 * and several gateway processes, started as `pnpm start` would) holding up to 100,000 idle SignalR
 * JSON WebSockets from several client processes, each on its own 127.0.0.x source addresses. It
 * ramps up, idles past the server's client timeout (clients ping like stock clients), reads every
 * gateway's RSS before and after, then times broadcasts posted to one gateway's HTTP ingest
 * (ingest → JetStream → router → every gateway → every socket) from the POST to the last receipt in
 * any client process. Every wait is bounded; all processes are stopped at the end.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { join } from "node:path";
import { split } from "../addresses.js";
import { broadcastSample, bytesPerConnection, summarizeBroadcasts, type BroadcastSample } from "../broadcast.js";
import type { OpenArgs, OpenResult, Tally } from "../client/main.js";
import { inspectorUrl, memoryAfterGc, type MemoryUsage } from "../e2e/inspector.js";
import { startCluster, type Target } from "../e2e/tidings.js";
import type { Child } from "../proc.js";
import type { HarnessResult, ResultRow } from "../results.js";
import { formatCount, significant } from "../stats.js";
import { renderResult } from "../summary.js";
import { HttpPoster } from "./http-poster.js";
import { currentLoad, MAX_SOCKETS_PER_CLIENT, type Harness, type RunContext } from "./context.js";

interface Sizes {
  connections: number;
  gateways: number;
  clientProcesses: number;
  /** the ramp opens the connections in this many equal steps, reading RSS after each */
  steps: number;
  /** connection attempts in flight per client process */
  concurrency: number;
  /** idle time after the ramp, longer than the server's client timeout (30 s) in the full run */
  idleS: number;
  /** least idle time of the fresh cluster before the baseline memory reading (see `measure`) */
  settleS: number;
  broadcasts: number;
}

const FULL: Sizes = {
  connections: 100_000,
  gateways: 6,
  clientProcesses: 8,
  steps: 10,
  concurrency: 64,
  idleS: 40,
  settleS: 20,
  broadcasts: 10,
};
const QUICK: Sizes = {
  connections: 10_000,
  gateways: 3,
  clientProcesses: 2,
  steps: 2,
  concurrency: 64,
  idleS: 15,
  settleS: 15,
  broadcasts: 5,
};

/** the file-descriptor limit of one process on this box; a gateway needs some besides its sockets */
const FD_LIMIT = 20_000;
const GATEWAY_FD_RESERVE = 200;
/** stock SignalR clients ping every 15 s when they sent nothing else */
const CLIENT_PING_MS = 15_000;
const STEP_TIMEOUT_MS = 180_000;
/** connections each gateway takes and drops before the baseline memory reading */
const WARMUP_PER_GATEWAY = 1000;
/** a refused connect is tried again, as a reconnecting client would; every retry is counted and reported */
const CONNECT_RETRIES = 5;
/** a broadcast is given up when nothing new arrived for this long, or after BROADCAST_MAX_MS */
const BROADCAST_STALL_MS = 10_000;
const BROADCAST_MAX_MS = 60_000;
const BROADCAST_GAP_MS = 1000;

function now(): number {
  return performance.timeOrigin + performance.now();
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms))),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A kB field of /proc/<pid>/status in bytes. */
function statusBytes(pid: number, field: "VmRSS" | "RssAnon"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (m === null) throw new Error(`no ${field} for pid ${pid}`);
  return Number(m[1]) * 1024;
}

/** Resident set size of a process in bytes. */
function rssOf(pid: number): number {
  return statusBytes(pid, "VmRSS");
}

/** Gateway memory after full GCs: `process.memoryUsage()` and the anonymous part of its RSS. */
interface GatewayMemory extends MemoryUsage {
  /** RssAnon: private memory, without file-backed pages (the node binary's text), which the kernel may drop and fault back in at will */
  anon: number;
}

/** CPU time (user + system) a process used so far, in µs; the kernel counts it in 10 ms ticks. */
function cpuUsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // fields after the parenthesised command name; utime and stime are the 14th and 15th of the line
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** The kernel's TCP line of /proc/net/sockstat: sockets in use and buffer memory (bytes), box-wide. */
function tcpSockstat(): { inuse: number; memBytes: number } {
  const line =
    readFileSync("/proc/net/sockstat", "utf8")
      .split("\n")
      .find((l) => l.startsWith("TCP:")) ?? "";
  const field = (name: string) => Number(new RegExp(`\\b${name} (\\d+)`).exec(line)?.[1] ?? Number.NaN);
  return { inuse: field("inuse"), memBytes: field("mem") * 4096 };
}

function load(): string {
  return currentLoad()
    .map((x) => x.toFixed(2))
    .join(" / ");
}

interface RampStep {
  connections: number;
  elapsedMs: number;
  gatewayRss: number[];
  load: string;
}

export interface Connections100kCase {
  sizes: Sizes;
  pids: Record<string, number>;
  connections: number;
  failedConnects: number;
  /** connects refused (ECONNREFUSED) and tried again */
  refusedConnects: number;
  connectErrors: string[];
  /** why the ramp stopped short of `sizes.connections`, when it did */
  limit: string | null;
  rampMs: number;
  connectsPerS: number;
  steps: RampStep[];
  /** `process.memoryUsage()` of each gateway after three full GCs, before any connection and after the idle time; RSS after the idle time without a GC */
  perGateway: Array<{ label: string; pid: number; before: GatewayMemory; afterIdle: GatewayMemory; rssAfterIdleNoGc: number }>;
  /** Σ gateway anonymous RSS growth after GC / connections */
  anonPerConnection: number;
  /** the same with VmRSS (includes file-backed pages) */
  rssPerConnection: number;
  /** anonymous RSS growth less the V8 heap that is committed but unused (young-generation slack the GC keeps) */
  retainedPerConnection: number;
  /** JS heap used per connection */
  heapPerConnection: number;
  /** the same as rssPerConnection, read before forcing a GC */
  rssPerConnectionNoGc: number;
  /**
   * CPU per delivery from each POST to its last receipt, less what the same processes used per
   * second while idle (keep-alives) over as long: the gateways, and the client processes reading the frames
   */
  cpu: {
    gatewayUsPerDelivery: number;
    clientUsPerDelivery: number;
    deliveries: number;
    idleGatewayUsPerS: number;
    idleClientUsPerS: number;
  };
  /** RSS growth per connection of the client processes (raw sockets, for comparison) */
  clientRssPerConnection: number;
  kernel: { before: { inuse: number; memBytes: number }; afterIdle: { inuse: number; memBytes: number } };
  idle: { seconds: number; openAfter: number; lostDuringIdle: number; load: string };
  /** SignalR Close messages the clients received (first few per process) */
  closeReasons: string[];
  broadcasts: BroadcastSample[];
  summary: ReturnType<typeof summarizeBroadcasts> | null;
  lostAtEnd: number;
  closeMs: number;
  load: { start: string; afterRamp: string; afterBroadcasts: string };
}

async function tallies(clients: Child[], want: number): Promise<Tally[]> {
  return within(Promise.all(clients.map((c) => c.call<Tally>("tally", { want }))), 30_000, "tally");
}

async function broadcastOnce(clients: Child[], poster: HttpPoster, expected: number): Promise<BroadcastSample> {
  await Promise.all(clients.map((c) => c.call("reset")));
  const postAt = now();
  poster.post(1);
  await within(poster.settle(), BROADCAST_MAX_MS, "ingest POST");
  const ackAt = now();
  let last = -1;
  let lastProgress = Date.now();
  for (;;) {
    const t = await tallies(clients, 1);
    const received = t.reduce((s, x) => s + x.notifications, 0);
    if (received !== last) {
      last = received;
      lastProgress = Date.now();
    }
    if (received >= expected || Date.now() - lastProgress > BROADCAST_STALL_MS || now() - postAt > BROADCAST_MAX_MS) {
      return broadcastSample(postAt, ackAt, expected, t);
    }
    await sleep(20);
  }
}

async function measure(ctx: RunContext, sizes: Sizes): Promise<Connections100kCase> {
  const perGateway = Math.ceil(sizes.connections / sizes.gateways);
  if (perGateway > FD_LIMIT - GATEWAY_FD_RESERVE)
    throw new Error(`${perGateway} connections per gateway exceed its fd limit; use more gateways`);
  const shares = split(sizes.connections, sizes.clientProcesses);
  if (shares[0]! > MAX_SOCKETS_PER_CLIENT)
    throw new Error(`${shares[0]} sockets per client process exceed ${MAX_SOCKETS_PER_CLIENT}; use more client processes`);
  const loadStart = load();
  // the inspector lets the harness force full GCs in the gateways before reading their RSS
  const cluster: Target = await startCluster(sizes.gateways, { NODE_OPTIONS: "--inspect=127.0.0.1:0" });
  let clients: Child[] = [];
  try {
    const gateways = cluster.processes.filter((p) => p.label.startsWith("gateway-"));
    const gatewayPids = gateways.map((p) => p.pid);
    const inspectors = gateways.map((p) => inspectorUrl(p.output()));
    const memory = () =>
      Promise.all(
        inspectors.map(async (url, i): Promise<GatewayMemory> => ({
          ...(await memoryAfterGc(url)),
          anon: statusBytes(gatewayPids[i]!, "RssAnon"),
        })),
      );
    const retained = (m: GatewayMemory) => m.anon - (m.heapTotal - m.heapUsed);
    ctx.log(
      `cluster up: ${Object.entries(cluster.pids)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")}; gateway ports ${cluster.ports.join(", ")}`,
    );
    clients = await ctx.startClients(sizes.clientProcesses, cluster.ports[0]!);
    // one source address per 10,000 sockets (at least two) and client process, well inside the ~28k ports of one address
    const addrs = shares.map((n) => ctx.addresses.takeMany(Math.max(2, Math.ceil(n / 10_000))));
    // client k starts its round robin at gateway k, so every gateway gets an equal share
    const ports = clients.map((_, k) => cluster.ports.map((_, g) => cluster.ports[(g + k) % cluster.ports.length]!));
    // Measured: a fresh gateway gives ~40 MB of anonymous memory from its start back only some time
    // later (about a minute in, forced GCs or not), so the baseline is read once that has happened:
    // every gateway first takes and drops WARMUP_PER_GATEWAY connections (compiling the connection
    // path), then the cluster settles until its GC'd readings stop moving.
    const warmup = await Promise.all(
      clients.map((c, k) =>
        c.call<OpenResult>("open", {
          dialect: "signalr-json",
          count: Math.ceil((WARMUP_PER_GATEWAY * sizes.gateways) / clients.length),
          addrs: [ctx.addresses.take()],
          ports: ports[k]!,
          token: null,
          concurrency: sizes.concurrency,
          retries: CONNECT_RETRIES,
        } satisfies OpenArgs),
      ),
    );
    if (warmup.some((r) => r.failed > 0)) throw new Error(`warm-up connects failed: ${warmup.flatMap((r) => r.errors).join("; ")}`);
    await Promise.all(clients.map((c) => c.call("closeAll")));
    await Promise.all(clients.map((c) => c.call("keepalive", { intervalMs: CLIENT_PING_MS })));
    // GC'd readings every 15 s, for at least `settleS`, until no gateway's anonymous memory moved by 2 MiB since the previous one
    let memBefore = await memory();
    const settleStart = Date.now();
    for (;;) {
      await sleep(15_000);
      const m = await memory();
      const moved = m.some((x, i) => Math.abs(x.anon - memBefore[i]!.anon) > 2 * 2 ** 20);
      ctx.log(`settling: gateway anonymous RSS ${m.map((x) => Math.round(x.anon / 2 ** 20)).join(" / ")} MiB`);
      memBefore = m;
      if ((!moved && Date.now() - settleStart >= sizes.settleS * 1000) || Date.now() - settleStart > 180_000) break;
    }
    const clientRssBefore = (await ctx.reports(clients)).map((r) => r.rss);
    const kernelBefore = tcpSockstat();

    const steps: RampStep[] = [];
    const errors = new Set<string>();
    let failed = 0;
    let retried = 0;
    let opened = 0;
    let limit: string | null = null;
    const rampStart = performance.now();
    for (let s = 0; s < sizes.steps; s++) {
      const results = await within(
        Promise.all(
          clients.map((c, k) => {
            const count = split(shares[k]!, sizes.steps)[s]!;
            return c.call<OpenResult>("open", {
              dialect: "signalr-json",
              count,
              addrs: addrs[k]!,
              ports: ports[k]!,
              token: null,
              concurrency: sizes.concurrency,
              retries: CONNECT_RETRIES,
            } satisfies OpenArgs);
          }),
        ),
        STEP_TIMEOUT_MS,
        `ramp step ${s + 1}`,
      );
      for (const r of results) {
        opened += r.opened;
        failed += r.failed;
        retried += r.retried;
        for (const e of r.errors) errors.add(e);
      }
      const step: RampStep = {
        connections: opened,
        elapsedMs: Math.round(performance.now() - rampStart),
        gatewayRss: gatewayPids.map(rssOf),
        load: load(),
      };
      steps.push(step);
      ctx.log(
        `ramp ${s + 1}/${sizes.steps}: ${formatCount(opened)} open after ${(step.elapsedMs / 1000).toFixed(1)} s, gateway RSS ${Math.round(step.gatewayRss.reduce((a, b) => a + b, 0) / 2 ** 20)} MiB, ${retried} refused connects retried so far, load ${step.load}`,
      );
      if (failed > 0) {
        const dead = cluster.processes.filter((p) => !existsSync(`/proc/${p.pid}`));
        limit =
          `${failed} connects failed in ramp step ${s + 1}: ${[...errors].join("; ")}` +
          (dead.length === 0
            ? "; every cluster process still running"
            : `; exited: ${dead.map((p) => `${p.label}, last output: ${p.output().slice(-1500)}`).join("; ")}`);
        ctx.log(`ramp stopped: ${limit}`);
        break;
      }
    }
    const rampMs = performance.now() - rampStart;
    const loadAfterRamp = load();

    ctx.log(`idle ${sizes.idleS} s with ${formatCount(opened)} connections (clients ping every ${CLIENT_PING_MS / 1000} s)`);
    const cpuNow = async () => ({
      at: performance.now(),
      gateway: gatewayPids.map(cpuUsOf).reduce((a, b) => a + b, 0),
      client: (await ctx.reports(clients)).reduce((sum, r) => sum + r.cpuUserUs + r.cpuSystemUs, 0),
    });
    // the idle CPU rate (keep-alives) is taken over the second half, after the ramp's aftermath
    await sleep((sizes.idleS * 1000) / 2);
    const idleCpu0 = await cpuNow();
    await sleep((sizes.idleS * 1000) / 2);
    const idleCpu1 = await cpuNow();
    const idleS = (idleCpu1.at - idleCpu0.at) / 1000;
    const idleGatewayUsPerS = (idleCpu1.gateway - idleCpu0.gateway) / idleS;
    const idleClientUsPerS = (idleCpu1.client - idleCpu0.client) / idleS;
    const afterIdle = await tallies(clients, 0);
    const reportsIdle = await ctx.reports(clients);
    const rssAfterIdleNoGc = gatewayPids.map(rssOf);
    const memAfterIdle = await memory();
    const kernelAfterIdle = tcpSockstat();
    const openAfter = afterIdle.reduce((s, t) => s + t.open, 0);
    const lostDuringIdle = reportsIdle.reduce((s, r) => s + r.lost, 0);
    const idleLoad = load();
    const anonPerConnection = bytesPerConnection(
      memBefore.map((m) => m.anon),
      memAfterIdle.map((m) => m.anon),
      openAfter,
    );
    const rssPerConnection = bytesPerConnection(
      memBefore.map((m) => m.rss),
      memAfterIdle.map((m) => m.rss),
      openAfter,
    );
    const retainedPerConnection = bytesPerConnection(memBefore.map(retained), memAfterIdle.map(retained), openAfter);
    const heapPerConnection = bytesPerConnection(
      memBefore.map((m) => m.heapUsed),
      memAfterIdle.map((m) => m.heapUsed),
      openAfter,
    );
    const rssPerConnectionNoGc = bytesPerConnection(
      memBefore.map((m) => m.rss),
      rssAfterIdleNoGc,
      openAfter,
    );
    const clientRssPerConnection = bytesPerConnection(
      clientRssBefore,
      reportsIdle.map((r) => r.rss),
      openAfter,
    );
    ctx.log(
      `after idle: ${formatCount(openAfter)} open, ${lostDuringIdle} closed by the server; gateway anonymous RSS ${anonPerConnection} B per connection; load ${idleLoad}`,
    );

    /** CPU used from just before each POST to its last receipt, summed over the broadcasts */
    const busy = { gateway: 0, client: 0, seconds: 0 };
    const poster = new HttpPoster(cluster.ports[0]!, "/api/notifications", 1);
    const broadcasts: BroadcastSample[] = [];
    try {
      for (let b = 0; b < sizes.broadcasts; b++) {
        const expected = (await tallies(clients, 0)).reduce((s, t) => s + t.open, 0);
        const cpu0 = await cpuNow();
        const sample = await broadcastOnce(clients, poster, expected);
        const cpu1 = await cpuNow();
        busy.gateway += cpu1.gateway - cpu0.gateway;
        busy.client += cpu1.client - cpu0.client;
        busy.seconds += (cpu1.at - cpu0.at) / 1000;
        broadcasts.push(sample);
        ctx.log(
          `broadcast ${b + 1}/${sizes.broadcasts}: ${formatCount(sample.received)} of ${formatCount(expected)} in ${sample.completionMs?.toFixed(1) ?? "-"} ms ` +
            `(202 after ${sample.ackMs.toFixed(1)} ms, first receipt ${sample.firstMs?.toFixed(1) ?? "-"} ms), ${sample.misses} missed, ${sample.duplicates} duplicated`,
        );
        await sleep(BROADCAST_GAP_MS);
      }
    } finally {
      poster.close();
    }
    const loadAfterBroadcasts = load();
    const reportsEnd = await ctx.reports(clients);
    const deliveries = broadcasts.reduce((s, b) => s + b.received, 0);
    const lostAtEnd = reportsEnd.reduce((s, r) => s + r.lost, 0);

    const closeStart = performance.now();
    await within(Promise.all(clients.map((c) => c.call("closeAll"))), 60_000, "closeAll");
    const closeMs = performance.now() - closeStart;

    return {
      sizes,
      pids: cluster.pids,
      connections: openAfter,
      failedConnects: failed,
      refusedConnects: retried,
      connectErrors: [...errors],
      limit,
      rampMs: Math.round(rampMs),
      connectsPerS: Math.round(opened / (rampMs / 1000)),
      steps,
      perGateway: gatewayPids.map((pid, i) => ({
        label: `gateway-${i + 1}`,
        pid,
        before: memBefore[i]!,
        afterIdle: memAfterIdle[i]!,
        rssAfterIdleNoGc: rssAfterIdleNoGc[i]!,
      })),
      anonPerConnection,
      rssPerConnection,
      retainedPerConnection,
      heapPerConnection,
      rssPerConnectionNoGc,
      cpu: {
        gatewayUsPerDelivery: significant(Math.max(0, busy.gateway - idleGatewayUsPerS * busy.seconds) / Math.max(1, deliveries), 3),
        clientUsPerDelivery: significant(Math.max(0, busy.client - idleClientUsPerS * busy.seconds) / Math.max(1, deliveries), 3),
        deliveries,
        idleGatewayUsPerS: Math.round(idleGatewayUsPerS),
        idleClientUsPerS: Math.round(idleClientUsPerS),
      },
      clientRssPerConnection,
      kernel: { before: kernelBefore, afterIdle: kernelAfterIdle },
      idle: { seconds: sizes.idleS, openAfter, lostDuringIdle, load: idleLoad },
      broadcasts,
      summary: broadcasts.some((b) => b.completionMs !== null) ? summarizeBroadcasts(broadcasts) : null,
      lostAtEnd,
      closeReasons: [...new Set(reportsEnd.flatMap((r) => r.closeReasons))],
      closeMs: Math.round(closeMs),
      load: { start: loadStart, afterRamp: loadAfterRamp, afterBroadcasts: loadAfterBroadcasts },
    };
  } finally {
    await Promise.all(clients.map((c) => c.stop()));
    await cluster.stop();
  }
}

function rows(c: Connections100kCase): ResultRow[] {
  const layout = `${c.sizes.gateways} gateways + router + store + nats-server, ${c.sizes.clientProcesses} client processes`;
  const s = c.summary;
  const out: ResultRow[] = [
    {
      metric: "Concurrent connections held",
      case: layout,
      unit: "",
      value: c.connections,
      target: { op: ">=", value: c.sizes.connections, on: "value" },
    },
    {
      metric: "Ramp time",
      case: `${formatCount(c.connections)} connects, ${c.sizes.concurrency} in flight per client process`,
      unit: "s",
      value: significant(c.rampMs / 1000, 3),
    },
    { metric: "Connects/s during the ramp", case: "WS upgrade + SignalR JSON handshake, anonymous", unit: "/s", value: c.connectsPerS },
    {
      metric: "Gateway RSS per idle connection",
      case: `anonymous RSS after ${c.idle.seconds} s idle and full GCs, summed over the gateways`,
      unit: "B",
      value: c.anonPerConnection,
      target: { op: "<=", value: 4096, on: "value" },
    },
    {
      metric: "Gateway RSS per idle connection, less unused V8 heap",
      case: "anonymous RSS − (heapTotal − heapUsed), same readings",
      unit: "B",
      value: c.retainedPerConnection,
    },
    { metric: "Gateway JS heap per idle connection", case: "heapUsed, same readings", unit: "B", value: c.heapPerConnection },
    {
      metric: "Broadcast to all, completion p50",
      case: `POST → last receipt, ${c.broadcasts.length} broadcasts`,
      unit: "ms",
      value: s?.completionMs.p50 ?? null,
    },
    {
      metric: "Broadcast to all, completion max",
      case: `POST → last receipt, ${c.broadcasts.length} broadcasts`,
      unit: "ms",
      value: s?.completionMs.max ?? null,
    },
    { metric: "Broadcast deliveries/s", case: "receivers / median completion time", unit: "/s", value: s?.deliveriesPerS ?? null },
    {
      metric: "Missed deliveries",
      case: `${c.broadcasts.length} broadcasts × open connections`,
      unit: "",
      value: s?.misses ?? null,
      target: { op: "<=", value: 0, on: "value" },
    },
  ];
  return out;
}

function notes(c: Connections100kCase): string[] {
  const mib = (b: number) => `${Math.round(b / 2 ** 20)} MiB`;
  const s = c.summary;
  const out = [
    `Layout: nats-server (JetStream), store (TIDINGS_ROLE=store, embedded PGlite), router, ${c.sizes.gateways} gateways (TIDINGS_ROLE=gateway), each its own process, ` +
      `and ${c.sizes.clientProcesses} client processes (raw TCP WebSockets, real SignalR JSON handshake, anonymous, Global audience; each on its own 127.x.y.z source addresses). ` +
      `All on this box's ${cpus().length} cores; one process may hold ${formatCount(FD_LIMIT)} file descriptors, hence several gateways and clients.`,
    `Ramp: ${c.sizes.steps} steps of equal size, ${c.sizes.concurrency} connects in flight per client process, client k starting its round robin over the gateway ports at gateway k. ` +
      `${formatCount(c.connections)} open in ${(c.rampMs / 1000).toFixed(1)} s (${formatCount(c.connectsPerS)}/s); ${c.failedConnects} failed; ` +
      `${c.refusedConnects} connect attempts were refused (ECONNREFUSED) and tried again after 250 ms (up to ${CONNECT_RETRIES} times).` +
      (c.limit === null ? "" : ` Stopped short: ${c.limit}`),
    `Memory: each gateway's \`process.memoryUsage()\`, read through its inspector after three full GCs 200 ms apart, after each gateway took and dropped ${formatCount(WARMUP_PER_GATEWAY)} connections and the cluster's readings, 15 s apart, stopped moving ` +
      `(a fresh gateway gives ~40 MB of start-up memory back only about a minute in) and again after the ${c.idle.seconds} s idle with every connection open, with the anonymous part of RSS (RssAnon in /proc/<pid>/status: ` +
      `file-backed pages such as the node binary's text come and go with the box's memory pressure); anonymous RSS ` +
      c.perGateway.map((g) => `${g.label} ${mib(g.before.anon)} → ${mib(g.afterIdle.anon)}`).join(", ") +
      `; (Σ after − Σ before) / connections = ${formatCount(c.anonPerConnection)} B (whole VmRSS: ${formatCount(c.rssPerConnection)} B); less the V8 heap committed but unused (young-generation slack, which the idle memory reducer hands back at its own pace) ${formatCount(c.retainedPerConnection)} B; ` +
      `JS heap used ${formatCount(c.heapPerConnection)} B; RSS read before the GCs ${formatCount(c.rssPerConnectionNoGc)} B. Client processes: ${formatCount(c.clientRssPerConnection)} B per socket. ` +
      `Kernel TCP buffer memory (box-wide /proc/net/sockstat, not in any RSS): ${mib(c.kernel.before.memBytes)} → ${mib(c.kernel.afterIdle.memBytes)}, TCP sockets in use ${formatCount(c.kernel.before.inuse)} → ${formatCount(c.kernel.afterIdle.inuse)}.`,
    `Idle: clients send a SignalR Ping every ${CLIENT_PING_MS / 1000} s as stock clients do, the gateways every 15 s; ${c.idle.lostDuringIdle} connections were closed by the server while idle, ${c.lostAtEnd} by the end of the broadcasts` +
      (c.closeReasons.length === 0 ? "." : `; Close messages received: ${c.closeReasons.map((r) => `\`${r}\``).join(", ")}.`),
    `Broadcast: one Global notification per \`POST /api/notifications\` to gateway-1 (202 after the JetStream ack), so it travels ingest → JetStream → router → every gateway → every socket; ` +
      `timed from just before the POST to the last receipt in any client process (client processes stamp receipts with \`performance.timeOrigin + performance.now()\`, same host), ${BROADCAST_GAP_MS / 1000} s apart. ` +
      (s === null
        ? "No broadcast arrived."
        : `Completion p50 ${s.completionMs.p50} ms, min ${s.completionMs.min} ms, max ${s.completionMs.max} ms; first receipt p50 ${s.firstMs.p50} ms; 202 p50 ${s.ackMs.p50} ms; ` +
          `${formatCount(s.deliveriesPerS)} deliveries/s; ${s.misses} missed, ${s.duplicates} duplicated. ` +
          `CPU per delivery from each POST to its last receipt, less the same processes' idle CPU rate (keep-alives: gateways ${formatCount(c.cpu.idleGatewayUsPerS / 1000)} ms/s, clients ${formatCount(c.cpu.idleClientUsPerS / 1000)} ms/s) over as long: ` +
          `gateways ${c.cpu.gatewayUsPerDelivery} µs (from /proc, 10 ms ticks; the whole path of the notification in each gateway), ` +
          `client processes ${c.cpu.clientUsPerDelivery} µs (Node \`net\` sockets reading the frames); ` +
          `both share the same two cores, so the side with more CPU per delivery sets most of the completion time: ` +
          `${c.cpu.clientUsPerDelivery > c.cpu.gatewayUsPerDelivery ? "here the clients" : "here the gateways"}.`),
    `Load average (1/5/15 min): ${c.load.start} at start, ${c.load.afterRamp} after the ramp, ${c.idle.load} after idling, ${c.load.afterBroadcasts} after the broadcasts (other work shares the box). ` +
      `Closing all connections from the client side took ${(c.closeMs / 1000).toFixed(1)} s.`,
  ];
  return out;
}

export const connections100k: Harness = {
  name: "connections-100k",
  title: "100,000 concurrent WebSocket connections: idle RSS and a broadcast to all, through a local cluster",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    const sizes = ctx.opts.quick ? QUICK : FULL;
    const c = await measure(ctx, sizes);
    const result: HarnessResult = ctx.result(this.name, this.title, startedAt, loadBefore, {
      params: { ...sizes },
      rows: rows(c),
      notes: notes(c),
      cases: [c],
    });
    writeFileSync(join(ctx.opts.resultsDir, `${this.name}.md`), `${renderResult(result)}\n`);
    return result;
  },
};

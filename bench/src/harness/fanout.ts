/**
 * Fan-out: one server process publishes the same notification to every connection (one topic / room /
 * client set), client processes count what arrives. The server's CPU over the measurement window,
 * divided by notifications × receivers, is the CPU per delivery.
 *
 * `fanout-cpu`: gateway vs bare uWS, JSON and MessagePack. `peers`: gateway vs `ws` and Socket.IO (JSON).
 */
import type { Child } from "../proc.js";
import type { Report } from "../client/main.js";
import type { Dialect } from "../client/frames.js";
import { benchFrame } from "../payload.js";
import type { ResultRow, Target } from "../results.js";
import type { CpuWindow, MemorySample, NodeMessageFormat, PrepareArgs, ServerKind } from "../server/main.js";
import { cpuPer, formatCount, median, perCore, ratio, significant } from "../stats.js";
import { split } from "../addresses.js";
import { subjectOf } from "../client/subjects.js";
import { centrifugoBinary } from "../server/centrifugo.js";
import { HttpPoster } from "./http-poster.js";
import { BENCH_SECRET, clientProcessesFor, currentLoad, dialectOf, type Harness, type RunContext, type ServerHandle } from "./context.js";

export type Protocol = "json" | "msgpack";

export interface FanoutCase {
  kind: ServerKind;
  protocol: Protocol;
  connections: number;
  /** global: every notification to every connection; user: each notification to one connection (its own User audience) */
  audience?: "global" | "user";
  /**
   * Published over HTTP by the orchestrator, `perPost` notifications per POST (gateway: its real
   * `/api/notifications` ingest; bare uWS: a handler that parses the body and publishes the frames),
   * instead of in-process by the server.
   */
  ingest?: { perPost: number };
  /**
   * Gateway, in-process: each notification is delivered from the node-message bytes a router sends a
   * gateway node (framed, or the notification's JSON), read as the cluster's gateway nodes read them;
   * without it, as a bare object, as the standalone process delivers what its HTTP ingest accepted.
   */
  wire?: NodeMessageFormat;
  /**
   * Bare uWS, one receiver per notification: each notification's frame written from what the server was given (over HTTP
   * the envelope, in process the validated notification) and published to its user (`frameReceived`).
   */
  framing?: "received";
}

export interface FanoutMeasurement {
  kind: ServerKind;
  protocol: Protocol;
  connections: number;
  audience: "global" | "user";
  /** notifications per HTTP POST; absent: published in-process */
  perPost?: number;
  /** delivered from node-message bytes in this format (see FanoutCase.wire) */
  wire?: NodeMessageFormat;
  /** see FanoutCase.framing */
  framing?: "received";
  clientProcesses: number;
  frameBytes: number;
  notifications: number;
  /** notifications each socket must receive */
  perSocket: number;
  /** notifications × receivers */
  expected: number;
  received: number;
  /** expected − received, ≥ 0 (duplicates would show in maxPerSocket) */
  lost: number;
  minPerSocket: number;
  maxPerSocket: number;
  socketsClosed: number;
  pings: number;
  burst: number;
  window: number;
  cpu: CpuWindow;
  cpuUsPerDelivery: number | null;
  /** deliveries one core could do at this CPU cost: 1e6 / cpuUsPerDelivery */
  perCoreDeliveriesPerSec: number | null;
  /** what this machine achieved, wall clock, clients sharing the cores */
  deliveriesPerSec: number;
  serverCpuShare: number;
  clientCpuUs: number;
  serverRssAfterConnect: number;
  connectMs: number;
  /** CPU per delivery of every repetition, in round order (set by measureAll) */
  samples?: Array<number | null>;
}

const KIND_NAMES: Record<ServerKind, string> = {
  gateway: "Tidings gateway",
  uws: "bare uWS",
  ws: "ws",
  socketio: "Socket.IO",
  centrifugo: "Centrifugo",
};

/** The one-receiver baseline that writes each notification's frame from what it was given (`FanoutCase.framing`). */
const FRAMING_BASELINE = "bare uWS, each received notification framed";

/** The compared figures of a measurement and their units. */
const UNITS = { cpuUsPerDelivery: "µs", perCoreDeliveriesPerSec: "/s", deliveriesPerSec: "/s", lost: "" } as const;

/**
 * One result row: the gateway's `field` against the same field of `base` (named `baseName`).
 * Lost deliveries are a count to keep at zero, not a ratio.
 */
function versus(
  metric: string,
  kase: string,
  field: keyof typeof UNITS,
  gw: FanoutMeasurement,
  base: FanoutMeasurement,
  extra: { baseName?: string; target?: Target } = {},
): ResultRow {
  const row: ResultRow = {
    metric,
    case: kase,
    unit: UNITS[field],
    value: gw[field],
    baseline: { name: extra.baseName ?? KIND_NAMES.uws, value: base[field] },
  };
  if (field !== "lost") row.ratio = ratio(gw[field], base[field]);
  if (extra.target !== undefined) row.target = extra.target;
  return row;
}

/** No delivery may be lost. */
const NONE_LOST: Target = { op: "<=", value: 0, on: "value" };

function sizes(ctx: RunContext): number[] {
  return ctx.opts.quick ? [1000] : [1000, 10_000];
}

/**
 * Notifications per case: enough deliveries for a few seconds of server CPU. `ws` and Socket.IO cost
 * ~15× more per delivery, so they get a third of the deliveries (still several seconds of CPU).
 * Centrifugo (~1.5 µs) gets the full count: its CPU is read in 10 ms clock ticks.
 */
function notificationsFor(ctx: RunContext, c: FanoutCase): number {
  if (c.audience === "user" && c.ingest !== undefined) {
    // a POST per notification costs tens of µs on every server: fewer notifications, still seconds of CPU
    const perSocket = c.ingest.perPost === 1 ? (ctx.opts.quick ? 10 : 30) : ctx.opts.quick ? 30 : 100;
    return perSocket * c.connections;
  }
  if (c.audience === "user") {
    // one delivery per notification, each ~20-40 µs on the gateway: a few seconds of CPU
    const perSocket = Math.max(10, Math.round((ctx.opts.quick ? 50_000 : 200_000) / c.connections));
    return perSocket * c.connections;
  }
  const deliveries = (ctx.opts.quick ? 500_000 : 3_000_000) / (c.kind === "ws" || c.kind === "socketio" ? 3 : 1);
  return Math.max(50, Math.round(deliveries / c.connections));
}

/** Notifications per publish call (one event-loop turn), and the most notifications in flight per socket. */
const BURST = 4;
const WINDOW = 32;
const PROGRESS_MS = 5;
const STALL_MS = 15_000;

interface Pacing {
  /** deliveries per notification */
  receivers: number;
  /** notifications per publish call */
  burst: number;
  /** most notifications published but not yet counted by the clients */
  window: number;
}

function pacingFor(c: FanoutCase): Pacing {
  // user: one notification per socket per publish call, at most 8 per socket in flight
  if (c.audience === "user") return { receivers: 1, burst: c.connections, window: 8 * c.connections };
  // a POST larger than the usual burst is one burst of its own, two in flight
  const perPost = c.ingest?.perPost ?? 0;
  return perPost > BURST
    ? { receivers: c.connections, burst: perPost, window: 2 * perPost }
    : { receivers: c.connections, burst: BURST, window: WINDOW };
}

/**
 * Publishes `count` notifications in bursts while at most `window` are unacknowledged by the clients
 * (closed loop: the server never builds backpressure), until every client counted all.
 */
async function drive(publish: (n: number) => void, clients: Child[], pacing: Pacing, count: number): Promise<number> {
  const { receivers, burst, window } = pacing;
  const progress = clients.map(() => 0);
  let published = 0;
  const target = count * receivers;
  const received = () => progress.reduce((s, x) => s + x, 0);
  await Promise.all(clients.map((c) => c.call("watch", { intervalMs: PROGRESS_MS })));
  try {
    return await new Promise<number>((resolve) => {
      let stall: NodeJS.Timeout | null = null;
      const finish = () => {
        if (stall !== null) clearTimeout(stall);
        resolve(received());
      };
      const armStall = () => {
        if (stall !== null) clearTimeout(stall);
        stall = setTimeout(finish, STALL_MS);
      };
      const pump = () => {
        const got = received();
        if (got >= target) return finish();
        while (published < count && published * receivers - got <= (window - burst) * receivers) {
          const n = Math.min(burst, count - published);
          publish(n);
          published += n;
        }
      };
      clients.forEach((c, i) =>
        c.on("progress", (n) => {
          progress[i] = n as number;
          armStall();
          pump();
        }),
      );
      armStall();
      pump();
    });
  } finally {
    clients.forEach((c) => c.off("progress"));
    await Promise.all(clients.map((c) => c.call("unwatch")));
  }
}

async function measureOnce(ctx: RunContext, c: FanoutCase): Promise<FanoutMeasurement> {
  const audience = c.audience ?? "global";
  const via =
    c.ingest === undefined ? (c.wire === undefined ? "" : `${c.wire}-`) : c.ingest.perPost === 1 ? "http1-" : `http${c.ingest.perPost}-`;
  const label = `${audience === "user" ? "one" : "fanout"}-${via}${c.kind}${c.framing === undefined ? "" : "-framing"}-${c.protocol}-${formatCount(c.connections)}`;
  const dialect: Dialect = c.kind === "socketio" ? "socketio" : c.kind === "centrifugo" ? "centrifugo" : dialectOf(c.protocol);
  const pacing = pacingFor(c);
  const token = audience === "user" ? { secret: BENCH_SECRET, subPrefix: "one-user-" } : null;
  let server: ServerHandle | null = null;
  let clients: Child[] = [];
  let poster: HttpPoster | null = null;
  try {
    server = await ctx.startServer(label, {
      kind: c.kind,
      auth: token === null ? "anonymous" : "jwt",
      secret: BENCH_SECRET,
      perSocketTopic: token !== null,
      ...(c.framing === undefined ? {} : { frameReceived: true }),
    });
    clients = await ctx.startClients(clientProcessesFor(c.connections), server.port);
    const opened = await ctx.openConnections(clients, c.connections, { dialect, token, concurrency: 256 });
    const users =
      token === null
        ? undefined
        : split(c.connections, clients.length).flatMap((n, k) => Array.from({ length: n }, (_, j) => subjectOf(token, k, j)));
    const serverConnections = await server.child.call<number>("connections");
    if (serverConnections !== c.connections) throw new Error(`server counts ${serverConnections} connections, expected ${c.connections}`);
    const memory = await server.child.call<MemorySample>("memory");

    const count = notificationsFor(ctx, c);
    const warmup = Math.max(pacing.burst * 4, Math.round(count / 10));
    await server.child.call("prepare", {
      count: warmup + count,
      ...(users === undefined ? {} : { users }),
      ...(c.wire === undefined ? {} : { wire: c.wire }),
    } satisfies PrepareArgs);
    const srv = server.child;
    if (c.ingest !== undefined)
      poster = new HttpPoster(server.port, c.kind === "gateway" ? "/api/notifications" : "/publish", c.ingest.perPost, users);
    const publish = poster === null ? (n: number) => srv.tell("publish", { n }) : poster.post.bind(poster);
    ctx.log(`${label}: ${c.connections} connections in ${Math.round(opened.ms)} ms; warm-up ${warmup}, measuring ${count} notifications`);
    await drive(publish, clients, pacing, warmup);

    await Promise.all(clients.map((cl) => cl.call("reset")));
    const clientCpuBefore = await ctx.reports(clients);
    await server.child.call("cpuStart");
    const wallStart = performance.now();
    const received = await drive(publish, clients, pacing, count);
    const wallMs = performance.now() - wallStart;
    const cpu = await server.child.call<CpuWindow>("cpuStop");
    await poster?.settle();
    const after: Report[] = await ctx.reports(clients);

    const expected = count * pacing.receivers;
    const cpuUs = cpuPer(cpu.userUs, cpu.systemUs, received);
    const clientCpuUs = after.reduce(
      (s, r, i) => s + r.cpuUserUs + r.cpuSystemUs - clientCpuBefore[i]!.cpuUserUs - clientCpuBefore[i]!.cpuSystemUs,
      0,
    );
    const m: FanoutMeasurement = {
      kind: c.kind,
      protocol: c.protocol,
      connections: c.connections,
      audience,
      ...(c.ingest === undefined ? {} : { perPost: c.ingest.perPost }),
      ...(c.wire === undefined ? {} : { wire: c.wire }),
      ...(c.framing === undefined ? {} : { framing: c.framing }),
      clientProcesses: clients.length,
      frameBytes: benchFrame(c.protocol, users?.[0]).length,
      notifications: count,
      perSocket: expected / c.connections,
      expected,
      received,
      lost: Math.max(0, expected - received),
      minPerSocket: Math.min(...after.map((r) => r.min)),
      maxPerSocket: Math.max(...after.map((r) => r.max)),
      socketsClosed: after.reduce((s, r) => s + r.lost, 0),
      pings: after.reduce((s, r) => s + r.pings, 0),
      burst: pacing.burst,
      window: pacing.window,
      cpu,
      cpuUsPerDelivery: cpuUs === null ? null : significant(cpuUs, 4),
      perCoreDeliveriesPerSec: cpuUs === null ? null : Math.round(perCore(cpuUs)!),
      deliveriesPerSec: Math.round(received / (wallMs / 1000)),
      serverCpuShare: significant((cpu.userUs + cpu.systemUs) / 1000 / cpu.wallMs, 3),
      clientCpuUs,
      serverRssAfterConnect: memory.rss,
      connectMs: Math.round(opened.ms),
    };
    ctx.log(
      `${label}: ${m.cpuUsPerDelivery} µs CPU/delivery (user ${Math.round(cpu.userUs / 1000)} ms, sys ${Math.round(cpu.systemUs / 1000)} ms), ` +
        `${m.deliveriesPerSec.toLocaleString("en-US")} deliveries/s wall, lost ${m.lost}, per-socket ${m.minPerSocket}..${m.maxPerSocket}`,
    );
    return m;
  } finally {
    poster?.close();
    await ctx.teardown(server, clients);
  }
}

function cacheKey(c: FanoutCase): string {
  return `fanout/${c.kind}/${c.protocol}/${c.connections}/${c.audience ?? "global"}${c.ingest === undefined ? "" : `/http${c.ingest.perPost}`}${c.wire === undefined ? "" : `/${c.wire}`}${c.framing === undefined ? "" : `/framing-${c.framing}`}`;
}

/**
 * Measures the cases `reps` times, interleaved (a, b, b, a, a, b…: the order reversed every other round)
 * so drift of the machine's load hits every server alike; reports each case's median run by CPU per
 * delivery. Reuses cases measured earlier in the run.
 */
async function measureAll(ctx: RunContext, cases: FanoutCase[], reps = ctx.opts.reps): Promise<Map<string, FanoutMeasurement>> {
  const out = new Map<string, FanoutMeasurement>();
  const todo = cases.filter((c) => {
    const cached = ctx.cache.get(cacheKey(c)) as FanoutMeasurement | undefined;
    if (cached !== undefined) out.set(cacheKey(c), cached);
    return cached === undefined;
  });
  const runs = new Map<string, FanoutMeasurement[]>();
  for (let rep = 0; rep < reps; rep++) {
    for (const c of rep % 2 === 0 ? todo : [...todo].reverse()) {
      const m = await measureOnce(ctx, c);
      runs.set(cacheKey(c), [...(runs.get(cacheKey(c)) ?? []), m]);
    }
  }
  for (const [key, ms] of runs) {
    const mid = median(ms.map((m) => m.cpuUsPerDelivery ?? Number.POSITIVE_INFINITY));
    const chosen = ms.reduce((best, m) =>
      Math.abs((m.cpuUsPerDelivery ?? Infinity) - mid) < Math.abs((best.cpuUsPerDelivery ?? Infinity) - mid) ? m : best,
    );
    const withSamples: FanoutMeasurement = { ...chosen, samples: ms.map((m) => m.cpuUsPerDelivery) };
    ctx.cache.set(key, withSamples);
    out.set(key, withSamples);
  }
  return out;
}

function caseText(protocol: Protocol, connections: number): string {
  return `${protocol === "json" ? "JSON" : "MessagePack"}, ${formatCount(connections)} connections`;
}

function lossNote(ms: Iterable<FanoutMeasurement>): string {
  const bad = [...ms].filter((m) => m.lost > 0 || m.minPerSocket !== m.perSocket || m.maxPerSocket !== m.perSocket || m.socketsClosed > 0);
  if (bad.length === 0)
    return "Every socket received every measured notification exactly once in every case (no loss, no duplicates, no socket closed).";
  return `LOSS: ${bad.map((m) => `${KIND_NAMES[m.kind]} ${caseText(m.protocol, m.connections)}: ${m.lost} lost, per-socket ${m.minPerSocket}..${m.maxPerSocket} of ${m.perSocket}, ${m.socketsClosed} sockets closed`).join("; ")}`;
}

function commonNotes(ms: Iterable<FanoutMeasurement>, reps: number): string[] {
  const list = [...ms];
  const first = list[0];
  if (first === undefined) return [];
  return [
    `Payload: a 206-byte notification body; every server sends the gateway's exact frame bytes ` +
      `(${benchFrame("json").length} B JSON, ${benchFrame("msgpack").length} B MessagePack; Socket.IO its own \`42[...]\` encoding of the same object).`,
    `Closed loop: ${first.burst} notifications per publish call (one event-loop turn), at most ${first.window} unacknowledged per socket; ` +
      "clients count frames and report every 5 ms. Warm-up of 10% before the window.",
    `"Per core" = 1e6 / (CPU µs per delivery): the server's capacity if it had a core to itself. "Achieved" = wall-clock deliveries/s ` +
      "on this machine, where clients and server share the cores (clients are usually the limit).",
    `Repetitions per case: ${reps}, interleaved across servers (the order reversed every other round); the median run by CPU per delivery is reported (all samples in the JSON).`,
    lossNote(list),
  ];
}

export const fanoutCpu: Harness = {
  name: "fanout-cpu",
  title: "Fan-out CPU per delivery: gateway vs bare uWebSockets.js",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    const cases: FanoutCase[] = [];
    for (const connections of sizes(ctx)) {
      for (const protocol of ["json", "msgpack"] as const) {
        cases.push({ kind: "uws", protocol, connections }, { kind: "gateway", protocol, connections });
      }
    }
    const ms = await measureAll(ctx, cases);
    const rows: ResultRow[] = [];
    for (const connections of sizes(ctx)) {
      for (const protocol of ["json", "msgpack"] as const) {
        const gw = ms.get(cacheKey({ kind: "gateway", protocol, connections }))!;
        const base = ms.get(cacheKey({ kind: "uws", protocol, connections }))!;
        const kase = caseText(protocol, connections);
        rows.push(
          versus("CPU per delivery", kase, "cpuUsPerDelivery", gw, base, { target: { op: "<=", value: 1.3, on: "ratio" } }),
          versus("Deliveries/s per core", kase, "perCoreDeliveriesPerSec", gw, base, { target: { op: ">=", value: 250_000, on: "value" } }),
          versus("Deliveries/s achieved (shared cores)", kase, "deliveriesPerSec", gw, base),
          versus("Deliveries lost", kase, "lost", gw, base, { target: NONE_LOST }),
        );
      }
    }
    return ctx.result(this.name, this.title, startedAt, loadBefore, {
      params: { sizes: sizes(ctx), burst: BURST, window: WINDOW, reps: ctx.opts.reps },
      rows,
      notes: commonNotes(ms.values(), ctx.opts.reps),
      cases: [...ms.values()],
    });
  },
};

export const peers: Harness = {
  name: "peers",
  title: "Fan-out CPU per delivery: gateway vs ws, Socket.IO and Centrifugo (JSON)",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    // Centrifugo is an external Go binary (`go install github.com/centrifugal/centrifugo/v6@v6.9.1`): skipped when absent
    const centrifugo = centrifugoBinary();
    if (centrifugo === null) ctx.log("peers: centrifugo binary not found ($CENTRIFUGO_BIN, ~/go/bin/centrifugo, PATH): Centrifugo skipped");
    const peerKinds: ServerKind[] = centrifugo === null ? ["uws", "ws", "socketio"] : ["uws", "ws", "socketio", "centrifugo"];
    const kinds: ServerKind[] = ["uws", "gateway", ...peerKinds.filter((k) => k !== "uws")];
    const cases = sizes(ctx).flatMap((connections) => kinds.map((kind) => ({ kind, protocol: "json" as const, connections })));
    const ms = await measureAll(ctx, cases);
    const rows: ResultRow[] = [];
    for (const connections of sizes(ctx)) {
      const gw = ms.get(cacheKey({ kind: "gateway", protocol: "json", connections }))!;
      const kase = `JSON, ${formatCount(connections)} connections`;
      const peer = (kind: ServerKind) => ms.get(cacheKey({ kind, protocol: "json", connections }))!;
      for (const kind of peerKinds)
        rows.push(versus("CPU per delivery", kase, "cpuUsPerDelivery", gw, peer(kind), { baseName: KIND_NAMES[kind] }));
      for (const kind of peerKinds) {
        rows.push(versus("Deliveries/s per core", kase, "perCoreDeliveriesPerSec", gw, peer(kind), { baseName: KIND_NAMES[kind] }));
      }
    }
    return ctx.result(this.name, this.title, startedAt, loadBefore, {
      params: { sizes: sizes(ctx), burst: BURST, window: WINDOW, reps: ctx.opts.reps, centrifugo },
      rows,
      notes: [
        "Ratio < 1: the gateway spends less CPU per delivery than the peer. ws: `for (const c of clients) c.send(frame)` per notification " +
          "(frame pre-encoded once, no corking). Socket.IO: `io.to(room).emit(type, object)` (encoded once per emit by Socket.IO).",
        centrifugo === null
          ? "Centrifugo: SKIPPED, binary not found ($CENTRIFUGO_BIN, ~/go/bin/centrifugo or PATH; `go install github.com/centrifugal/centrifugo/v6@v6.9.1`)."
          : `Centrifugo (${centrifugo}, v6 config: \`client.insecure\`, one channel without namespace, memory engine, no history/presence): ` +
            'clients send `connect` then `subscribe` over the JSON protocol on `/connection/websocket` and count `{"push":…}` lines ' +
            "(Centrifugo may put several newline-separated pushes in one WebSocket frame; clients answer its `{}` pings). " +
            "Each burst of notifications is ONE `POST /api/batch` with one `publish` command per notification (HTTP keep-alive, up to 8 " +
            "requests in flight), data = the same delivered object Socket.IO emits (the frame is Centrifugo's own " +
            '`{"push":{"channel":…,"pub":{"data":…}}}`, not the gateway\'s bytes); so Centrifugo\'s figure INCLUDES its HTTP API ' +
            "(request parsing, JSON decode of the data, per-publication encode) where the Node servers publish in-process. " +
            "The HTTP client side (the Node process that starts Centrifugo) is not counted. Centrifugo's CPU = utime + stime of the " +
            "whole Go process (all threads) from /proc/<pid>/stat over the window (clock ticks → µs, 10 ms resolution): the same " +
            "quantity `process.cpuUsage()` gives for the Node servers (user + system of the whole process, all threads).",
        ...commonNotes(ms.values(), ctx.opts.reps),
      ],
      cases: [...ms.values()],
    });
  },
};

/** Rounds of `fanout-one` in a full run: its ratio is the median of the rounds' ratios (see below). */
const FANOUT_ONE_REPS = 7;

/**
 * The median over rounds of `gw`'s CPU per delivery divided by `base`'s in the same round, and the
 * rounds' ratios. Both servers of a round ran back to back, so a change of the machine's load between
 * rounds does not move the ratio as it moves the two medians (which may come from different rounds).
 */
function pairedRatio(gw: FanoutMeasurement, base: FanoutMeasurement): { median: number | null; rounds: Array<number | null> } {
  const rounds = (gw.samples ?? []).map((g, i) => ratio(g, base.samples?.[i]));
  const known = rounds.filter((r): r is number => r !== null);
  return { median: known.length === rounds.length && known.length > 0 ? median(known) : null, rounds };
}

export const fanoutOne: Harness = {
  name: "fanout-one",
  title: "CPU per notification with one receiver each (User audiences): gateway vs bare uWS",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    const connections = 1000;
    const reps = ctx.opts.quick ? ctx.opts.reps : Math.max(ctx.opts.reps, FANOUT_ONE_REPS);
    const cases: FanoutCase[] = [
      { kind: "uws", protocol: "json", connections, audience: "user" },
      { kind: "uws", protocol: "json", connections, audience: "user", framing: "received" },
      { kind: "gateway", protocol: "json", connections, audience: "user", wire: "framed" },
      { kind: "gateway", protocol: "json", connections, audience: "user", wire: "json" },
      { kind: "gateway", protocol: "json", connections, audience: "user" },
    ];
    const ms = await measureAll(ctx, cases, reps);
    const preEncoded = ms.get(cacheKey(cases[0]!))!;
    const framing = ms.get(cacheKey(cases[1]!))!;
    const rows: ResultRow[] = [];
    const roundRatios: Record<string, Array<number | null>> = {};
    // Node messages carry the frame the router encoded (or the notification's JSON to splice it from): the
    // baseline publishes pre-encoded bytes. The notification object has no frame yet: the baseline writes one.
    for (const [c, how, base, baseName] of [
      [cases[2]!, "framed node message (cluster gateway node)", preEncoded, KIND_NAMES.uws],
      [cases[3]!, "notification's JSON node message (gateway node not announcing framed messages)", preEncoded, KIND_NAMES.uws],
      [cases[4]!, "notification object (standalone)", framing, FRAMING_BASELINE],
    ] as const) {
      const gw = ms.get(cacheKey(c))!;
      const kase = `JSON, ${formatCount(connections)} connections, each notification to one user, delivered from the ${how}`;
      const cpu = versus("CPU per notification (1 receiver)", kase, "cpuUsPerDelivery", gw, base, {
        baseName,
        target: { op: "<=", value: 2, on: "ratio" },
      });
      const paired = pairedRatio(gw, base);
      cpu.ratio = paired.median;
      roundRatios[c.wire ?? "object"] = paired.rounds;
      rows.push(cpu);
      if (base === framing) {
        const against = versus(
          "CPU per notification (1 receiver), against one pre-encoded frame",
          kase,
          "cpuUsPerDelivery",
          gw,
          preEncoded,
        );
        against.ratio = pairedRatio(gw, preEncoded).median;
        rows.push(against);
      }
      rows.push(
        versus("Notifications/s per core (1 receiver)", kase, "perCoreDeliveriesPerSec", gw, base, { baseName }),
        versus("Deliveries lost", kase, "lost", gw, base, { baseName, target: NONE_LOST }),
      );
    }
    return ctx.result(this.name, this.title, startedAt, loadBefore, {
      params: { connections, reps, roundRatios },
      rows,
      notes: [
        "Every connection authenticates as its own user; notifications go to the users round robin, one per socket per publish " +
          "call, at most 8 per socket unacknowledged. The gateway pays its whole per-notification cost (de-duplication, delivered " +
          "form, encoding, metrics, tracing, topic publish) for a single delivery; bare uWS publishes pre-encoded bytes to a " +
          "one-subscriber topic. This is the common case for User and Connection audiences.",
        "Node messages: each notification is handed to `deliverNodeMessage` as the bytes a router publishes to a gateway node " +
          "(encoded once per notification by the router, outside this process; views of one buffer, as a NATS client hands over " +
          "views of its read buffer), as `run-gateway` does; reading them is in the figure. Framed: a header (id, audience, time " +
          "stamp) and the JSON frame itself, published as a view of the received bytes. The notification's JSON " +
          "(`notificationCodec`): JSON.parse of the message, then the frame spliced from its bytes. Notification object: " +
          "`deliver(notification)`, as the standalone process delivers what its HTTP ingest accepted; the frame is serialised " +
          "from the object; the HTTP request is not in the figure (`ingest-http-one` has it); its baseline is " +
          `${FRAMING_BASELINE}: bare uWS writing each validated notification's frame (one template, strings and body through ` +
          "JSON.stringify, the gateway's bytes) and publishing it to its user's topic, since a notification held as an object has " +
          "no frame to publish yet. Every server runs a full GC after " +
          "preparing its notifications, so the preparation's garbage is not collected inside the measurement.",
        `Repetitions: ${reps} rounds, each measuring every server once, back to back (the order reversed every other round). ` +
          "Value and baseline: each server's median run by CPU per notification. Ratio: the median over rounds of the gateway's " +
          "CPU per notification divided by bare uWS's in the same round (`params.roundRatios`): bare uWS's own figure moves " +
          "±30% between runs on this shared box, and a round's two runs share its load.",
        lossNote(ms.values()),
      ],
      cases: [...ms.values()],
    });
  },
};

/** Notifications per POST of the batched HTTP-ingest cases (the single cases post one per request). */
const BATCH_PER_POST = { global: BURST, user: 100 } as const;
/** A producer's large batch (broadcast): one POST, every frame of it queued for every socket in one turn. */
const LARGE_BATCH = 250;

function ingestHarness(audience: "global" | "user"): Harness {
  const one = audience === "user";
  return {
    name: one ? "ingest-http-one" : "ingest-http",
    title: one
      ? "HTTP ingest, one receiver per notification (User audiences): gateway vs bare uWS"
      : "HTTP ingest broadcast: gateway behind /api/notifications vs bare uWS publishing from its HTTP handler",
    async run(ctx) {
      const startedAt = new Date();
      const loadBefore = currentLoad();
      const connections = 1000;
      const modes = [
        { perPost: BATCH_PER_POST[audience], text: `batched, ${BATCH_PER_POST[audience]} per POST` },
        ...(one ? [] : [{ perPost: LARGE_BATCH, text: `one batch of ${LARGE_BATCH} per POST` }]),
        { perPost: 1, text: "single, 1 per POST" },
      ];
      // One receiver: the target's baseline writes each notification's frame from what it received, as any
      // server delivering it must (a frame per notification, not per POST); the pre-encoded baseline stays beside it.
      const servers: Array<Pick<FanoutCase, "kind" | "framing">> = [
        { kind: "uws" },
        ...(one ? [{ kind: "uws" as const, framing: "received" as const }] : []),
        { kind: "gateway" },
      ];
      const cases: FanoutCase[] = modes.flatMap((m) =>
        servers.map((server) => ({ ...server, protocol: "json" as const, connections, audience, ingest: { perPost: m.perPost } })),
      );
      const ms = await measureAll(ctx, cases);
      const rows: ResultRow[] = [];
      for (const m of modes) {
        const at = (kind: ServerKind, framing?: "received") =>
          ms.get(
            cacheKey({
              kind,
              protocol: "json",
              connections,
              audience,
              ingest: { perPost: m.perPost },
              ...(framing === undefined ? {} : { framing }),
            }),
          )!;
        const gw = at("gateway");
        const preEncoded = at("uws");
        const base = one ? at("uws", "received") : preEncoded;
        const baseName = one ? FRAMING_BASELINE : KIND_NAMES.uws;
        const kase = `JSON, ${formatCount(connections)} connections${one ? ", each notification to one user" : ""}, ${m.text}`;
        rows.push(
          versus(one ? "CPU per notification (1 receiver)" : "CPU per delivery", kase, "cpuUsPerDelivery", gw, base, {
            baseName,
            target: { op: "<=", value: one ? 2 : 1.3, on: "ratio" },
          }),
          ...(one
            ? [versus("CPU per notification (1 receiver), against one pre-encoded frame", kase, "cpuUsPerDelivery", gw, preEncoded)]
            : []),
          versus("Deliveries lost", kase, "lost", gw, base, { baseName, target: NONE_LOST }),
        );
      }
      return ctx.result(this.name, this.title, startedAt, loadBefore, {
        params: { connections, modes: modes.map((m) => m.perPost), reps: ctx.opts.reps },
        rows,
        notes: [
          "The orchestrator POSTs JSON arrays of producer envelopes over 8 keep-alive connections (fire and forget, every answer " +
            "checked to be 202); its CPU is not counted. Gateway: its real `POST /api/notifications` (loopback, no producer key), " +
            "the bench wiring's ingest delivering in-process as the standalone process does for non-persisted notifications " +
            "(body read, JSON parse, envelope validation, tracing span, ingest metrics, fan-out, 202 answer). Bare uWS: a POST " +
            "handler that reads the body, JSON.parses it and publishes the pre-encoded frames synchronously in its data callback, then answers 202.",
          one
            ? "Each notification goes to one user round robin (bare uWS: a one-subscriber topic per socket); at most 8 per socket unacknowledged. " +
              `${FRAMING_BASELINE} (the target's baseline): the same handler, but each socket's topic is its token's subject and each ` +
              "envelope's frame is written from what was received (one template, its strings and body through JSON.stringify, the " +
              "same bytes the gateway sends) and published to the topic its routing names: what delivering a notification to one " +
              "user costs any server, since a frame per notification cannot be encoded ahead. The pre-encoded row publishes one " +
              "fixed frame round robin and never writes what it received."
            : `Closed loop: ${BURST} notifications per pump (batched: one POST; single: ${BURST} POSTs), at most ${WINDOW} unacknowledged per socket.`,
          `Repetitions: ${ctx.opts.reps}, interleaved (the order reversed every other round); median run by CPU per delivery (all samples in the JSON).`,
          lossNote(ms.values()),
        ],
        cases: [...ms.values()],
      });
    },
  };
}

export const ingestHttp = ingestHarness("global");
export const ingestHttpOne = ingestHarness("user");

/**
 * Connect rate: client processes open WebSocket connections with an HS256 token in `access_token`,
 * complete the SignalR handshake, and close, as fast as they can for a fixed time. Server CPU per
 * completed connect gives the rate one core sustains.
 */
import type { Child } from "../proc.js";
import type { StormArgs, StormResult } from "../client/main.js";
import type { ResultRow } from "../results.js";
import type { CpuWindow, ServerArgs } from "../server/main.js";
import { cpuPer, perCore, ratio, significant } from "../stats.js";
import { BENCH_SECRET, currentLoad, type Harness, type RunContext, type ServerHandle } from "./context.js";

interface ConnectCase {
  label: string;
  name: string;
  server: ServerArgs;
}

export interface ConnectMeasurement {
  label: string;
  name: string;
  clientProcesses: number;
  concurrencyPerClient: number;
  durationMs: number;
  completed: number;
  failed: number;
  errors: string[];
  cpu: CpuWindow;
  cpuUsPerConnect: number | null;
  perCoreConnectsPerSec: number | null;
  connectsPerSec: number;
  latencyUs: StormResult["latencyUs"];
}

const CLIENTS = 2;
const CONCURRENCY = 32;
/** source addresses per client process: TIME_WAIT sockets pile up on the client side (~28k ports each) */
const ADDRS_PER_CLIENT = 8;

async function measure(ctx: RunContext, c: ConnectCase, durationMs: number): Promise<ConnectMeasurement> {
  let server: ServerHandle | null = null;
  let clients: Child[] = [];
  try {
    server = await ctx.startServer(c.label, c.server);
    clients = await ctx.startClients(CLIENTS, server.port);
    const storm = (cl: Child): StormArgs => ({
      dialect: "signalr-json",
      durationMs,
      concurrency: CONCURRENCY,
      addrs: ctx.addresses.takeMany(ADDRS_PER_CLIENT),
      token: c.server.auth === "jwt" ? { secret: BENCH_SECRET, subPrefix: `storm-${cl.pid}-` } : null,
      tokenPool: 500,
    });
    // A short run first: JIT warm-up of both sides, and the token pools get minted.
    await Promise.all(clients.map((cl) => cl.call<StormResult>("storm", { ...storm(cl), durationMs: Math.min(1000, durationMs / 3) })));
    await server.child.call("cpuStart");
    const results = await Promise.all(clients.map((cl) => cl.call<StormResult>("storm", storm(cl))));
    const cpu = await server.child.call<CpuWindow>("cpuStop");
    const completed = results.reduce((s, r) => s + r.completed, 0);
    const cpuUs = cpuPer(cpu.userUs, cpu.systemUs, completed);
    const slowest = results.reduce((a, b) => (a.latencyUs.p99 >= b.latencyUs.p99 ? a : b));
    const m: ConnectMeasurement = {
      label: c.label,
      name: c.name,
      clientProcesses: clients.length,
      concurrencyPerClient: CONCURRENCY,
      durationMs,
      completed,
      failed: results.reduce((s, r) => s + r.failed, 0),
      errors: [...new Set(results.flatMap((r) => r.errors))],
      cpu,
      cpuUsPerConnect: cpuUs === null ? null : significant(cpuUs, 4),
      perCoreConnectsPerSec: cpuUs === null ? null : Math.round(perCore(cpuUs)!),
      connectsPerSec: Math.round(completed / (Math.max(...results.map((r) => r.ms)) / 1000)),
      latencyUs: slowest.latencyUs,
    };
    ctx.log(
      `${c.label}: ${completed} connects (${m.failed} failed), ${m.connectsPerSec}/s wall, ${m.cpuUsPerConnect} µs server CPU/connect, ` +
        `p50 ${m.latencyUs.p50} µs p99 ${m.latencyUs.p99} µs`,
    );
    return m;
  } finally {
    await ctx.teardown(server, clients);
  }
}

export const connectRate: Harness = {
  name: "connect-rate",
  title: "Connect rate with JWT (HS256) validation",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    const durationMs = ctx.opts.quick ? 3000 : 10_000;
    const uwsNoAuth = await measure(
      ctx,
      { label: "connect-uws-anonymous", name: "bare uWS, no auth", server: { kind: "uws", auth: "anonymous", secret: BENCH_SECRET } },
      durationMs,
    );
    const uwsJwt = await measure(
      ctx,
      { label: "connect-uws-hs256", name: "bare uWS + node:crypto HS256", server: { kind: "uws", auth: "jwt", secret: BENCH_SECRET } },
      durationMs,
    );
    const gw = await measure(
      ctx,
      { label: "connect-gateway", name: "Tidings gateway", server: { kind: "gateway", auth: "jwt", secret: BENCH_SECRET } },
      durationMs,
    );
    const rows: ResultRow[] = [];
    for (const base of [uwsJwt, uwsNoAuth]) {
      rows.push({
        metric: "Server CPU per connect",
        case: "WS upgrade + HS256 token + handshake + close",
        unit: "µs",
        value: gw.cpuUsPerConnect,
        baseline: { name: base.name, value: base.cpuUsPerConnect },
        ratio: ratio(gw.cpuUsPerConnect, base.cpuUsPerConnect),
      });
    }
    for (const base of [uwsJwt, uwsNoAuth]) {
      rows.push({
        metric: "Connects/s per core",
        case: "WS upgrade + HS256 token + handshake + close",
        unit: "/s",
        value: gw.perCoreConnectsPerSec,
        baseline: { name: base.name, value: base.perCoreConnectsPerSec },
        ratio: ratio(gw.perCoreConnectsPerSec, base.perCoreConnectsPerSec),
        target: { op: ">=", value: 5000, on: "value" },
      });
    }
    rows.push(
      {
        metric: "Connects/s achieved (shared cores)",
        case: `${CLIENTS} client processes × ${CONCURRENCY} in flight`,
        unit: "/s",
        value: gw.connectsPerSec,
        baseline: { name: uwsJwt.name, value: uwsJwt.connectsPerSec },
        ratio: ratio(gw.connectsPerSec, uwsJwt.connectsPerSec),
      },
      {
        metric: "Connect + handshake latency p99 (client side)",
        case: `${CLIENTS} client processes × ${CONCURRENCY} in flight`,
        unit: "µs",
        value: gw.latencyUs.p99,
        baseline: { name: uwsJwt.name, value: uwsJwt.latencyUs.p99 },
        ratio: ratio(gw.latencyUs.p99, uwsJwt.latencyUs.p99),
      },
      {
        metric: "Failed connects",
        case: `${CLIENTS} client processes × ${CONCURRENCY} in flight`,
        unit: "",
        value: gw.failed,
        baseline: { name: uwsJwt.name, value: uwsJwt.failed },
        target: { op: "<=", value: 0, on: "value" },
      },
    );
    return ctx.result(this.name, this.title, startedAt, loadBefore, {
      params: { durationMs, clients: CLIENTS, concurrency: CONCURRENCY },
      rows,
      notes: [
        `Each client keeps ${CONCURRENCY} connects in flight for ${durationMs / 1000} s: TCP connect, WebSocket upgrade with ` +
          "`?access_token=<HS256 JWT>` (a pool of 500 distinct users per client), SignalR JSON handshake, then the client closes. " +
          "Server CPU covers accept, upgrade, token check, handshake and close; a 1 s warm-up precedes the window.",
        "Baselines: bare uWS checking the same token with a synchronous node:crypto HMAC (alg, signature, exp, sub), and bare uWS with no token check.",
        `Gateway errors: ${gw.errors.length === 0 ? "none" : gw.errors.join("; ")}`,
      ],
      cases: [uwsNoAuth, uwsJwt, gw],
    });
  },
};

/**
 * Idle memory: server RSS after GC with N handshaken, idle SignalR connections, minus RSS after GC
 * before they connected, divided by N. Connections come from 2+ client processes on distinct
 * 127.0.0.x source addresses.
 */
import type { Child } from "../proc.js";
import type { ResultRow } from "../results.js";
import type { MemorySample, ServerKind } from "../server/main.js";
import { formatCount, ratio, significant } from "../stats.js";
import { BENCH_SECRET, clientProcessesFor, currentLoad, type Harness, type RunContext, type ServerHandle } from "./context.js";

export interface IdleMeasurement {
  kind: ServerKind;
  connections: number;
  clientProcesses: number;
  fdLimit: number;
  before: MemorySample;
  /** after the first `warmConnections` connections */
  warm: MemorySample;
  warmConnections: number;
  after: MemorySample;
  rssPerConnection: number;
  /** (after − warm) / (connections − warmConnections): without one-time costs (JIT, lazy init, heap growth) */
  marginalRssPerConnection: number;
  heapPerConnection: number;
  externalPerConnection: number;
  connectMs: number;
}

/** fds a server keeps besides its sockets (stdio, IPC, epoll, eventfds, …) plus margin */
const FD_RESERVE = 64;

async function measure(ctx: RunContext, kind: ServerKind, wanted: number): Promise<IdleMeasurement> {
  let server: ServerHandle | null = null;
  let clients: Child[] = [];
  try {
    // Both authenticate with HS256 tokens of distinct users; bare uWS mirrors the gateway's two topics per socket.
    server = await ctx.startServer(`idle-${kind}`, { kind, auth: "jwt", secret: BENCH_SECRET, perSocketTopic: true });
    const fds = await server.child.call<{ open: number; limit: number }>("fds");
    const connections = Math.min(wanted, fds.limit - fds.open - FD_RESERVE);
    const before = await server.child.call<MemorySample>("gc");
    clients = await ctx.startClients(clientProcessesFor(connections, 2), server.port);
    const open = { dialect: "signalr-json" as const, token: { secret: BENCH_SECRET, subPrefix: "idle-user-" }, concurrency: 256 };
    const warmConnections = Math.min(1000, Math.floor(connections / 10));
    const first = await ctx.openConnections(clients, warmConnections, open);
    await new Promise((r) => setTimeout(r, 500));
    const warm = await server.child.call<MemorySample>("gc");
    const rest = await ctx.openConnections(clients, connections - warmConnections, open);
    await new Promise((r) => setTimeout(r, 1000));
    const after = await server.child.call<MemorySample>("gc");
    if (after.connections !== connections) throw new Error(`server holds ${after.connections} connections, expected ${connections}`);
    const m: IdleMeasurement = {
      kind,
      connections,
      clientProcesses: clients.length,
      fdLimit: fds.limit,
      before,
      warm,
      warmConnections,
      after,
      rssPerConnection: Math.round((after.rss - before.rss) / connections),
      marginalRssPerConnection: Math.round((after.rss - warm.rss) / (connections - warmConnections)),
      heapPerConnection: Math.round((after.heapUsed - before.heapUsed) / connections),
      externalPerConnection: Math.round((after.external - before.external) / connections),
      connectMs: Math.round(first.ms + rest.ms),
    };
    ctx.log(
      `idle-${kind}: ${connections} connections, ${m.rssPerConnection} B RSS/connection (marginal ${m.marginalRssPerConnection} B, heap ${m.heapPerConnection} B)`,
    );
    return m;
  } finally {
    await ctx.teardown(server, clients);
  }
}

export const idleRss: Harness = {
  name: "idle-rss",
  title: "RSS per idle connection",
  async run(ctx) {
    const startedAt = new Date();
    const loadBefore = currentLoad();
    const wanted = ctx.opts.quick ? 2000 : 20_000;
    const base = await measure(ctx, "uws", wanted);
    const gw = await measure(ctx, "gateway", wanted);
    const kase = `${formatCount(gw.connections)} handshaken JSON connections, ${gw.clientProcesses} client processes`;
    const rows: ResultRow[] = [
      {
        metric: "RSS per idle connection",
        case: kase,
        unit: "B",
        value: gw.rssPerConnection,
        baseline: { name: "bare uWS", value: base.rssPerConnection },
        ratio: ratio(gw.rssPerConnection, base.rssPerConnection),
        target: { op: "<=", value: 4096, on: "value" },
      },
      {
        metric: "RSS per idle connection, marginal",
        case: `after the first ${formatCount(gw.warmConnections)}`,
        unit: "B",
        value: gw.marginalRssPerConnection,
        baseline: { name: "bare uWS", value: base.marginalRssPerConnection },
        ratio: ratio(gw.marginalRssPerConnection, base.marginalRssPerConnection),
      },
      {
        metric: "JS heap per idle connection",
        case: kase,
        unit: "B",
        value: gw.heapPerConnection,
        baseline: { name: "bare uWS", value: base.heapPerConnection },
      },
    ];
    const notes = [
      "(server RSS after − before) / connections, each read after three full GCs (`--expose-gc`) 200 ms apart; " +
        "kernel socket buffers are not in RSS. Every connection authenticates with its own HS256 token, so the gateway " +
        "holds an identity and two topic subscriptions (Global, User) per socket; bare uWS subscribes each socket to two topics too.",
      "The marginal figure leaves out one-time costs (JIT code, lazily loaded modules, heap growth) by starting from the RSS " +
        "with the first connections already open; at small sizes (`--quick`) only the marginal figure is meaningful.",
    ];
    if (gw.connections < wanted) {
      notes.push(
        `${formatCount(gw.connections)} rather than ${formatCount(wanted)} connections: one process may hold at most ${gw.fdLimit} fds ` +
          "(hard limit, not raisable here) and the server needs a few for itself.",
      );
    }
    notes.push(
      `RSS per connection in kB: gateway ${significant(gw.rssPerConnection / 1024, 3)}, bare uWS ${significant(base.rssPerConnection / 1024, 3)}.`,
    );
    return ctx.result(this.name, this.title, startedAt, loadBefore, { params: { wanted }, rows, notes, cases: [base, gw] });
  },
};

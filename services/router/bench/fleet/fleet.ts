/**
 * Fleet simulation of the sharded registry (`pnpm bench:fleet [--quick]`).
 *
 * One nats-server on 127.0.0.1; `--nodes` simulated gateway nodes in this process, each a real
 * `RegistryAnnouncer` speaking the real subjects (deltas, heartbeats, snapshots, acks); 2–16
 * routers, each its own process (fleet-router.ts: real tracker, sharded registry, roster, handover
 * and routing pipeline). Per scenario (keys × routers):
 *
 * 1. initial load: routers start one after another; time until every partition is served;
 * 2. router memory (heap after GC) per key, lookups/s inside each router;
 * 3. churn: joins and leaves at `--churn` per second for `--churn-seconds`;
 * 4. probes: notifications to random keys (users, churned keys, tenants, global) published to the
 *    partition subjects; every delivery is checked against the fleet's ground truth: `missed`
 *    (an owning node got nothing) and `misrouted` (a non-owner got it) must both be 0;
 * 5. kill -9 a router: time until the map drops it, every partition is served again and a probe
 *    per partition is delivered; probes again;
 * 6. add a router: time until it serves its share; probes again.
 *
 * Every phase has a deadline and the run stops itself (`--max-minutes`). Writes
 * bench/results/fleet.json, fleet.md and fleet.svg at the repository root.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { RegistryAnnouncer, RouterRoster, connectNatsBus, partitionOf, type NatsBus } from "@tidings/bus";
import { subjects } from "@tidings/contracts";
import { startNats, type NatsServer } from "@tidings/testkit";
import { renderMarkdown, renderSvg, type FleetCase } from "./report.js";

const HERE = dirname(fileURLToPath(import.meta.url));
const RESULTS_DIR = join(HERE, "..", "..", "..", "..", "bench", "results");
const ROUTER = join(HERE, "fleet-router.ts");
const enc = new TextEncoder();
const dec = new TextDecoder();

interface Options {
  quick: boolean;
  nodes: number;
  partitions: number;
  heartbeatMs: number;
  churn: number;
  churnSeconds: number;
  probes: number;
  maxMinutes: number;
  scenarios: Array<{ keys: number; routers: number }>;
}

function parseArgs(argv: string[]): Options {
  const flag = (name: string): string | undefined => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const num = (name: string, dflt: number) => Number(flag(name) ?? dflt);
  const quick = argv.includes("--quick");
  const list = (name: string) => flag(name)?.split(",").map(Number);
  const keys = list("keys");
  const routers = list("routers");
  let scenarios: Array<{ keys: number; routers: number }>;
  if (keys !== undefined || routers !== undefined) {
    scenarios = [];
    for (const k of keys ?? [100_000]) for (const r of routers ?? [2]) scenarios.push({ keys: k, routers: r });
  } else if (quick) {
    scenarios = [
      { keys: 50_000, routers: 2 },
      { keys: 50_000, routers: 4 },
    ];
  } else {
    scenarios = [
      { keys: 1_000_000, routers: 2 },
      { keys: 1_000_000, routers: 4 },
      { keys: 1_000_000, routers: 8 },
      { keys: 1_000_000, routers: 16 },
      { keys: 3_000_000, routers: 2 },
      { keys: 10_000_000, routers: 2 },
    ];
  }
  return {
    quick,
    nodes: num("nodes", quick ? 200 : 1000),
    partitions: num("partitions", 64),
    heartbeatMs: num("heartbeat-ms", 5000),
    churn: num("churn", quick ? 5000 : 50_000),
    churnSeconds: num("churn-seconds", quick ? 3 : 10),
    probes: num("probes", quick ? 2000 : 20_000),
    maxMinutes: num("max-minutes", quick ? 5 : 40),
    scenarios,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function until(check: () => boolean, timeoutMs: number, what: string): Promise<number> {
  const started = Date.now();
  while (!check()) {
    if (Date.now() - started > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms: ${what}`);
    await sleep(10);
  }
  return Date.now() - started;
}

/** A router child process. */
class RouterChild {
  private constructor(
    readonly id: string,
    readonly child: ChildProcess,
    readonly readyMs: number,
  ) {}

  static async start(natsUrl: string, id: string, o: Options): Promise<RouterChild> {
    const started = Date.now();
    const child = spawn(process.execPath, ["--expose-gc", "--max-old-space-size=8192", "--import", "tsx", ROUTER], {
      env: {
        ...process.env,
        FLEET_NATS_URL: natsUrl,
        FLEET_ROUTER_ID: id,
        FLEET_PARTITIONS: String(o.partitions),
        FLEET_HEARTBEAT_MS: String(o.heartbeatMs),
      },
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.add(child);
    child.once("exit", () => children.delete(child));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`router ${id} not ready within 10 minutes`)), 600_000);
      child.once("exit", (code) => reject(new Error(`router ${id} exited during start (${code})`)));
      child.stdout.on("data", (d: Buffer) => {
        if (d.toString().includes("ready")) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    return new RouterChild(id, child, Date.now() - started);
  }

  async kill(signal: NodeJS.Signals = "SIGKILL"): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once("exit", () => r()));
    this.child.kill(signal);
    await exited;
  }
}

const children = new Set<ChildProcess>();

/** The simulated gateway fleet and its ground truth. */
class Fleet {
  readonly announcers: RegistryAnnouncer[] = [];
  readonly nodeIds: string[] = [];
  readonly #index = new Map<string, number>();
  /** Base memberships removed by churn: `<i>|<node>`. */
  readonly removed = new Set<string>();
  /** Keys joined by churn → node, oldest first. */
  readonly fresh = new Map<string, number>();
  #freshSeq = 0;
  /** probe id → nodes that received it. */
  readonly received = new Map<string, number[]>();
  deliveries = 0;
  readonly tenants = 100;
  readonly tenantSpread: number;

  constructor(
    readonly buses: NatsBus[],
    readonly nodes: number,
    readonly keys: number,
  ) {
    this.tenantSpread = Math.min(50, nodes);
  }

  /** The base nodes of user key i: one node, a tenth of the keys on a second one. */
  baseNodes(i: number): number[] {
    const a = i % this.nodes;
    if (i % 10 !== 0) return [a];
    const b = (i * 7 + 1) % this.nodes;
    return b === a ? [a] : [a, b];
  }

  tenantNodes(t: number): number[] {
    return Array.from({ length: this.tenantSpread }, (_, m) => (t * 13 + m * 17) % this.nodes);
  }

  /** Which nodes hold `key` now, by construction. */
  owners(key: string): number[] {
    if (key === "global") return Array.from({ length: this.nodes }, (_, n) => n);
    if (key.startsWith("tenant:t")) return this.tenantNodes(Number(key.slice(8)));
    const f = this.fresh.get(key);
    if (f !== undefined) return [f];
    if (key.startsWith("user:c")) return [];
    const i = Number(key.slice(6));
    return this.baseNodes(i).filter((n) => !this.removed.has(`${i}|${n}`));
  }

  async start(heartbeatMs: number): Promise<void> {
    for (let n = 0; n < this.nodes; n++) {
      const nodeId = `gw-${n}`;
      this.nodeIds.push(nodeId);
      this.#index.set(nodeId, n);
      this.announcers.push(
        new RegistryAnnouncer({ bus: this.buses[n % this.buses.length]!, nodeId, heartbeatIntervalMs: heartbeatMs, ackTimeoutMs: 60_000 }),
      );
    }
    for (let i = 0; i < this.keys; i++) {
      const key = `user:u${i}`;
      for (const n of this.baseNodes(i)) this.announcers[n]!.add(key);
    }
    for (let t = 0; t < this.tenants; t++) for (const n of this.tenantNodes(t)) this.announcers[n]!.add(`tenant:t${t}`);
    const prefix = "tidings.v1.node.".length;
    this.buses[0]!.subscribe("tidings.v1.node.>", (m) => {
      const n = this.#index.get(m.subject.slice(prefix));
      if (n === undefined) return;
      const id = (JSON.parse(dec.decode(m.data)) as { id: string }).id;
      let got = this.received.get(id);
      if (got === undefined) this.received.set(id, (got = []));
      got.push(n);
      this.deliveries++;
    });
    await Promise.all(this.announcers.map((a) => a.start()));
  }

  /** Total memberships (key, node) held by the fleet. */
  memberships(): number {
    let m = 0;
    for (let i = 0; i < this.keys; i++) m += this.baseNodes(i).length;
    return m - this.removed.size + this.fresh.size + this.tenants * this.tenantSpread;
  }

  /** `rate` joins+leaves per second for `seconds`; returns the achieved rate. */
  async churn(rate: number, seconds: number): Promise<{ ops: number; opsPerSecond: number }> {
    const tickMs = 100;
    const perTick = Math.max(2, Math.round((rate * tickMs) / 1000));
    const freshCap = Math.max(1000, Math.floor(rate * 2));
    const started = Date.now();
    let ops = 0;
    while (Date.now() - started < seconds * 1000) {
      const tick = Date.now();
      for (let k = 0; k < perTick / 2; k++) {
        // join: a fresh key on a random node
        const key = `user:c${this.#freshSeq++}`;
        const n = Math.floor(Math.random() * this.nodes);
        this.announcers[n]!.add(key);
        this.fresh.set(key, n);
        // leave: the oldest fresh key once enough exist, else a base membership
        if (this.fresh.size > freshCap || Math.random() < 0.5) {
          const [oldKey, oldNode] = this.fresh.entries().next().value as [string, number];
          this.announcers[oldNode]!.remove(oldKey);
          this.fresh.delete(oldKey);
        } else {
          const i = Math.floor(Math.random() * this.keys);
          const bn = this.baseNodes(i)[0]!;
          if (!this.removed.has(`${i}|${bn}`)) {
            this.removed.add(`${i}|${bn}`);
            this.announcers[bn]!.remove(`user:u${i}`);
          }
        }
        ops += 2;
      }
      await sleep(Math.max(0, tickMs - (Date.now() - tick)));
    }
    return { ops, opsPerSecond: Math.round(ops / ((Date.now() - started) / 1000)) };
  }

  /** Waits until every live router has acknowledged every node's announced changes. */
  async quiesce(): Promise<number> {
    const started = Date.now();
    const acked = await Promise.all(this.announcers.map((a) => a.acknowledged()));
    if (acked.some((ok) => !ok)) throw new Error("some nodes' changes were not acknowledged by every router within 60 s");
    return Date.now() - started;
  }

  /**
   * Publishes probes to the partition subjects and checks every delivery against the owners at
   * publish time. Returns misses, misroutes and the end-to-end rate.
   */
  async probe(label: string, keys: string[], partitions: number, settleMs = 3000): Promise<ProbeResult> {
    const expected = new Map<string, Set<number>>();
    let want = 0;
    const started = Date.now();
    const pub = this.buses[1 % this.buses.length]!;
    for (let j = 0; j < keys.length; j++) {
      const key = keys[j]!;
      const id = `${label}-${j}`;
      const owners = new Set(this.owners(key));
      expected.set(id, owners);
      want += owners.size;
      const routing =
        key === "global"
          ? { audienceType: 1 }
          : key.startsWith("tenant:")
            ? { audienceType: 2, audienceValue: key.slice(7) }
            : { audienceType: 4, audienceValue: key.slice(5) };
      const envelope = { id, type: "probe", body: {}, routing, metadata: { producer: "fleet" } };
      pub.publish(subjects.partition(partitionOf(key, partitions)), enc.encode(JSON.stringify(envelope)));
      if (j % 500 === 499) await pub.flush();
    }
    await pub.flush();
    const got = () => {
      let n = 0;
      for (const id of expected.keys()) n += this.received.get(id)?.length ?? 0;
      return n;
    };
    // Until everything expected arrived, then a short settle for anything unexpected.
    let last = -1;
    let lastChange = Date.now();
    while (got() < want && Date.now() - lastChange < settleMs) {
      const now = got();
      if (now !== last) {
        last = now;
        lastChange = Date.now();
      }
      await sleep(20);
    }
    const seconds = (Date.now() - started) / 1000;
    await sleep(200);
    let missed = 0;
    let misrouted = 0;
    let duplicates = 0;
    for (const [id, owners] of expected) {
      const nodes = this.received.get(id) ?? [];
      const seen = new Set<number>();
      for (const n of nodes) {
        if (!owners.has(n)) misrouted++;
        else if (seen.has(n)) duplicates++;
        seen.add(n);
      }
      for (const n of owners) if (!seen.has(n)) missed++;
      this.received.delete(id);
    }
    return {
      label,
      probes: keys.length,
      expectedDeliveries: want,
      missed,
      misrouted,
      duplicates,
      seconds,
      probesPerSecond: Math.round(keys.length / seconds),
    };
  }

  /** Random probe keys: base users (some churned away), churn keys, tenants and a few global. */
  probeKeys(count: number): string[] {
    const out: string[] = [];
    const freshKeys = [...this.fresh.keys()];
    for (let j = 0; j < count; j++) {
      const r = Math.random();
      if (r < 0.85 || freshKeys.length === 0) out.push(`user:u${Math.floor(Math.random() * this.keys)}`);
      else if (r < 0.95) out.push(freshKeys[Math.floor(Math.random() * freshKeys.length)]!);
      else if (r < 0.999) out.push(`tenant:t${Math.floor(Math.random() * this.tenants)}`);
      else out.push("global");
    }
    out.push("global", "user:c-never-joined");
    return out;
  }

  /** One user key per partition that some node holds now. */
  keyPerPartition(partitions: number): string[] {
    const found = new Map<number, string>();
    for (let i = 0; found.size < partitions && i < this.keys * 4; i++) {
      const key = `user:u${i % this.keys}`;
      const p = partitionOf(key, partitions);
      if (!found.has(p) && this.owners(key).length > 0) found.set(p, key);
    }
    return [...found.values()];
  }

  async stop(): Promise<void> {
    await Promise.all(this.announcers.map((a) => a.stop()));
  }
}

export interface ProbeResult {
  label: string;
  probes: number;
  expectedDeliveries: number;
  missed: number;
  misrouted: number;
  duplicates: number;
  seconds: number;
  probesPerSecond: number;
}

/** True when every partition is served by its owner in the watcher's map, and by no one else. */
function converged(watcher: RouterRoster, routers: number): boolean {
  const map = watcher.map();
  if (map.routers.length !== routers) return false;
  const servedBy = new Map<number, string[]>();
  for (const r of watcher.routers().values()) for (const p of r.serving) servedBy.set(p, [...(servedBy.get(p) ?? []), r.routerId]);
  for (let p = 0; p < map.partitions; p++) {
    const s = servedBy.get(p);
    if (s === undefined || s.length !== 1 || s[0] !== map.owner(p)) return false;
  }
  return true;
}

async function routerStats(bus: NatsBus, ids: string[], keySpace: number): Promise<RouterStats[]> {
  const out: RouterStats[] = [];
  // One at a time: each measures lookups for half a second on a shared CPU.
  for (const id of ids) {
    const m = await bus.request(`fleet.stats.${id}`, enc.encode(JSON.stringify({ keySpace })), { timeoutMs: 120_000 });
    out.push(JSON.parse(dec.decode(m.data)) as RouterStats);
  }
  return out;
}

export interface RouterStats {
  routerId: string;
  heapBytes: number;
  rssBytes: number;
  keys: number;
  memberships: number;
  nodes: number;
  owned: number;
  serving: number;
  lookupsPerSecond: number;
  ownersPerLookup: number;
}

async function runScenario(
  server: NatsServer,
  o: Options,
  keys: number,
  routerCount: number,
  say: (s: string) => void,
): Promise<FleetCase> {
  const buses = await Promise.all(Array.from({ length: 4 }, (_, i) => connectNatsBus(server.url, { name: `fleet-nodes-${i}` })));
  const fleet = new Fleet(buses, o.nodes, keys);
  const watcher = new RouterRoster({ bus: buses[2]!, partitions: o.partitions, heartbeatIntervalMs: o.heartbeatMs });
  const routers: RouterChild[] = [];
  try {
    let t = Date.now();
    await fleet.start(o.heartbeatMs);
    const fleetStartMs = Date.now() - t;
    await watcher.start();
    say(`  ${o.nodes} nodes announcing ${keys.toLocaleString("en")} keys (${fleetStartMs} ms)`);

    t = Date.now();
    for (let r = 0; r < routerCount; r++) routers.push(await RouterChild.start(server.url, `router-${r}`, o));
    await until(() => converged(watcher, routerCount), 600_000, "initial convergence");
    const initialLoadMs = Date.now() - t;
    say(`  ${routerCount} routers loaded and serving every partition in ${initialLoadMs} ms`);

    const stats = await routerStats(
      buses[3]!,
      routers.map((r) => r.id),
      keys,
    );
    const totalKeys = keys + fleet.tenants;
    const heapTotal = stats.reduce((a, s) => a + s.heapBytes, 0);
    say(
      `  router heap ${(heapTotal / 2 ** 20).toFixed(1)} MiB total, ${(heapTotal / totalKeys).toFixed(0)} B per key; lookups/s per router ${stats.map((s) => s.lookupsPerSecond.toLocaleString("en")).join(", ")}`,
    );

    const probes: ProbeResult[] = [];
    probes.push(await fleet.probe("steady", fleet.probeKeys(o.probes), o.partitions));
    const churn = await fleet.churn(o.churn, o.churnSeconds);
    const quiesceMs = await fleet.quiesce();
    say(
      `  churn ${churn.opsPerSecond.toLocaleString("en")} joins+leaves/s for ${o.churnSeconds} s; acknowledged by every router ${quiesceMs} ms after`,
    );
    probes.push(await fleet.probe("after-churn", fleet.probeKeys(o.probes), o.partitions));

    // Kill -9 one router.
    const victim = routers.shift()!;
    t = Date.now();
    await victim.kill("SIGKILL");
    const killMapMs = await until(() => !watcher.map().routers.includes(victim.id), 120_000, "map without the killed router");
    await until(() => converged(watcher, routerCount - 1), 600_000, "convergence after kill");
    const killServedMs = Date.now() - t;
    await fleet.quiesce();
    const perPartition = fleet.keyPerPartition(o.partitions);
    let killDeliveredMs = 0;
    for (let attempt = 0; ; attempt++) {
      const r = await fleet.probe(`kill-check-${attempt}`, perPartition, o.partitions, 1000);
      if (r.missed === 0) {
        killDeliveredMs = Date.now() - t;
        break;
      }
      if (Date.now() - t > 600_000) throw new Error("deliveries did not resume after the kill");
    }
    say(
      `  kill -9 ${victim.id}: map updated after ${killMapMs} ms, every partition served after ${killServedMs} ms, delivering after ${killDeliveredMs} ms`,
    );
    probes.push(await fleet.probe("after-kill", fleet.probeKeys(o.probes), o.partitions));

    // Add a router.
    t = Date.now();
    const added = await RouterChild.start(server.url, `router-${routerCount}`, o);
    routers.push(added);
    await until(() => converged(watcher, routerCount), 600_000, "convergence after add");
    const addServedMs = Date.now() - t;
    say(`  added ${added.id}: ready after ${added.readyMs} ms (process start + load), serving its share after ${addServedMs} ms`);
    probes.push(await fleet.probe("after-add", fleet.probeKeys(o.probes), o.partitions));

    const missed = probes.reduce((a, p) => a + p.missed, 0);
    const misrouted = probes.reduce((a, p) => a + p.misrouted, 0);
    say(
      `  probes: ${probes.map((p) => `${p.label} ${p.probes} (${p.probesPerSecond.toLocaleString("en")}/s)`).join(", ")}; missed ${missed}, misrouted ${misrouted}`,
    );
    return {
      keys: totalKeys,
      userKeys: keys,
      nodes: o.nodes,
      routers: routerCount,
      partitions: o.partitions,
      memberships: fleet.memberships(),
      fleetStartMs,
      initialLoadMs,
      routerHeapBytes: stats.map((s) => s.heapBytes),
      routerKeys: stats.map((s) => s.keys),
      bytesPerKey: Math.round(heapTotal / totalKeys),
      lookupsPerSecond: stats.map((s) => s.lookupsPerSecond),
      churn: { target: o.churn, seconds: o.churnSeconds, achieved: churn.opsPerSecond, quiesceMs },
      convergence: { killMapMs, killServedMs, killDeliveredMs, addReadyMs: added.readyMs, addServedMs },
      probes,
      missed,
      misrouted,
    };
  } finally {
    for (const r of routers) await r.kill();
    await watcher.stop();
    await fleet.stop();
    for (const b of buses) await b.close();
  }
}

async function main(): Promise<void> {
  const o = parseArgs(process.argv.slice(2));
  const deadline = setTimeout(() => {
    console.error(`fleet: stopping after the ${o.maxMinutes}-minute limit`);
    for (const c of children) c.kill("SIGKILL");
    process.exit(2);
  }, o.maxMinutes * 60_000);
  deadline.unref();
  const say = (s: string) => console.log(s);
  const startedAt = new Date().toISOString();
  const loadBefore = loadavg();
  const server = await startNats();
  const cases: FleetCase[] = [];
  try {
    for (const s of o.scenarios) {
      say(`fleet: ${s.keys.toLocaleString("en")} keys, ${s.routers} routers, ${o.nodes} nodes, ${o.partitions} partitions`);
      cases.push(await runScenario(server, o, s.keys, s.routers, say));
    }
  } finally {
    for (const c of children) c.kill("SIGKILL");
    await server.stop();
  }
  const biggest = cases.reduce((a, c) => (c.keys > a.keys ? c : a));
  const result = {
    name: "fleet",
    title: "Fleet simulation: sharded registry",
    startedAt,
    finishedAt: new Date().toISOString(),
    quick: o.quick,
    command: ["pnpm bench:fleet", ...process.argv.slice(2)].join(" "),
    machine: {
      cpus: cpus().length,
      cpuModel: cpus()[0]?.model.trim() ?? "unknown",
      node: process.version,
      platform: `${process.platform}-${process.arch}`,
      loadBefore,
      loadAfter: loadavg(),
    },
    nodes: o.nodes,
    keys: biggest.keys,
    routers: [...new Set(cases.map((c) => c.routers))],
    misrouted: cases.reduce((a, c) => a + c.misrouted, 0),
    missed: cases.reduce((a, c) => a + c.missed, 0),
    convergence: {
      killServedMs: Math.max(...cases.map((c) => c.convergence.killServedMs)),
      killMs: Math.max(...cases.map((c) => c.convergence.killDeliveredMs)),
      addMs: Math.max(...cases.map((c) => c.convergence.addServedMs)),
      atKeys: biggest.keys,
      killServedMsAtBiggest: biggest.convergence.killServedMs,
      killMsAtBiggest: biggest.convergence.killDeliveredMs,
      addMsAtBiggest: biggest.convergence.addServedMs,
    },
    params: {
      nodes: o.nodes,
      partitions: o.partitions,
      heartbeatMs: o.heartbeatMs,
      churn: o.churn,
      churnSeconds: o.churnSeconds,
      probes: o.probes,
      scenarios: o.scenarios,
    },
    rows: cases.flatMap((c) => [
      {
        metric: "Router memory per key",
        case: `${c.keys.toLocaleString("en")} keys, ${c.routers} routers`,
        unit: "B",
        value: c.bytesPerKey,
      },
      {
        metric: "Lookups per router",
        case: `${c.keys.toLocaleString("en")} keys, ${c.routers} routers`,
        unit: "/s",
        value: Math.round(avg(c.lookupsPerSecond)),
      },
      {
        metric: "Convergence after kill -9",
        case: `${c.keys.toLocaleString("en")} keys, ${c.routers} routers`,
        unit: "ms",
        value: c.convergence.killDeliveredMs,
      },
      {
        metric: "Misrouted + missed",
        case: `${c.keys.toLocaleString("en")} keys, ${c.routers} routers`,
        unit: "",
        value: c.misrouted + c.missed,
        target: { op: "<=" as const, value: 0, on: "value" as const },
      },
    ]),
    notes: [
      "Partitions are core NATS subjects in the simulation (routers: real tracker, sharded registry, roster, handover, routing pipeline); the JetStream path is covered by the integration tests.",
      "Memory per key: the routers' heap after GC over distinct keys (users + tenants), key strings included, summed over routers.",
    ],
    cases,
  };
  writeFileSync(join(RESULTS_DIR, "fleet.json"), JSON.stringify(result, null, 2) + "\n");
  writeFileSync(join(RESULTS_DIR, "fleet.svg"), renderSvg(cases));
  writeFileSync(join(RESULTS_DIR, "fleet.md"), renderMarkdown(result, cases));
  say(`fleet: wrote bench/results/fleet.json, fleet.md, fleet.svg; misrouted ${result.misrouted}, missed ${result.missed}`);
  clearTimeout(deadline);
  if (result.misrouted + result.missed > 0) process.exitCode = 1;
}

function avg(xs: number[]): number {
  return xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
}

await main();

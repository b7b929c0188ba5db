import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { HubConnection } from "@microsoft/signalr";
import {
  buildClient,
  mintToken,
  sleep,
  startNats,
  startPostgres,
  TcpBalancer,
  TEST_JWT_SECRET,
  waitFor,
  type NatsServer,
  type PostgresServer,
} from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * Faults under steady persisted publishing, every part its own OS process: nats-server with
 * JetStream, PostgreSQL, the store service, two routers, two gateways behind a TCP balancer, and
 * per scenario two stock SignalR clients of one user (automatic reconnect, through the balancer).
 * Each scenario publishes persisted User notifications over HTTP at a steady rate, injects one
 * fault, and checks that every accepted (202) notification reaches both clients: 0 lost. With
 * TIDINGS_WRITE_RESULTS=1 the table goes to bench/results/faults.{json,md}.
 */
const RATE_PER_S = 100;
const PUBLISH_MS = 4000;
const FAULT_AT_MS = 1000;
const ACK_WAIT_SECONDS = 3;
/** Process start-up under tsx on a loaded machine can take long; a restart is part of the fault, not a failure. */
const START_TIMEOUT_MS = 90_000;

let nats: NatsServer;
let pg: PostgresServer;
let lb: TcpBalancer;
const procs = new Map<string, TidingsProcess>();
const clients: HubConnection[] = [];
const gatewayPorts: Record<"a" | "b", number> = { a: 0, b: 0 };

const common = () => ({
  TIDINGS_NATS_URL: nats.url,
  TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
  TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1",
  TIDINGS_ROUTER_ACK_WAIT_SECONDS: String(ACK_WAIT_SECONDS),
  TIDINGS_REPLAY_LIMIT: "2000",
  TIDINGS_LOG_LEVEL: "info",
});

const roles = {
  store: () =>
    startTidings({ ...common(), TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url }, "store service answering", START_TIMEOUT_MS),
  "router-1": () => startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1" }, "router running", START_TIMEOUT_MS),
  "router-2": () => startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-2" }, "router running", START_TIMEOUT_MS),
  "gw-a": () =>
    startTidings(
      { ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-a", TIDINGS_DRAIN_SECONDS: "1" },
      "listening",
      START_TIMEOUT_MS,
    ),
  "gw-b": () =>
    startTidings(
      { ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-b", TIDINGS_DRAIN_SECONDS: "1" },
      "listening",
      START_TIMEOUT_MS,
    ),
} as const;
type Role = keyof typeof roles;

async function start(role: Role): Promise<void> {
  procs.set(role, await roles[role]());
}
async function kill9(role: Role): Promise<void> {
  const p = procs.get(role)!;
  p.child.kill("SIGKILL");
  await p.exited;
}

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  pg = await startPostgres();
  // Two at a time: on a loaded machine more parallel starts only make each one slower.
  await Promise.all([start("store"), start("router-1")]);
  await Promise.all([start("router-2"), start("gw-a")]);
  await start("gw-b");
  gatewayPorts.a = procs.get("gw-a")!.port;
  gatewayPorts.b = procs.get("gw-b")!.port;
  lb = await TcpBalancer.start([gatewayPorts.a, gatewayPorts.b]);
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
  await lb?.close();
  await Promise.all([...procs.values()].map((p) => p.stop()));
  await nats?.stop();
  await pg?.stop();
}, 60_000);

interface Row {
  fault: string;
  accepted: number;
  delivered: number;
  replayed: number;
  duplicates: number;
  lost: number;
  /** How long the fault lasted: from injecting it until the failed part was back (restarted and ready). */
  faultMs: number;
  /** Time until delivery resumed: the longest a client received nothing while notifications were outstanding. */
  longestSilenceMs: number;
  /** The failed part back → the next delivery, slowest client (how fast held notifications flow again). */
  flowingAfterRecoveryMs: number;
  /** Publishing end → last notification delivered. */
  lastAfterEndMs: number;
}

interface Arrival {
  id: string;
  at: number;
  /** Connection number of the client: 0 first, +1 per reconnect. */
  epoch: number;
}

async function device(user: string): Promise<{ arrivals: Arrival[]; epochStarts: number[] }> {
  const c = buildClient(`http://127.0.0.1:${lb.port}`, {
    token: await mintToken({ sub: user }),
    skipNegotiation: true,
    automaticReconnect: true,
  });
  clients.push(c);
  const arrivals: Arrival[] = [];
  const epochStarts = [0];
  c.on("note", (n: { id: string }) => void arrivals.push({ id: n.id, at: Date.now(), epoch: epochStarts.length - 1 }));
  c.onreconnecting(() => void epochStarts.push(Number.POSITIVE_INFINITY));
  c.onreconnected(() => void (epochStarts[epochStarts.length - 1] = Date.now()));
  await c.start();
  epochStarts[0] = Date.now();
  return { arrivals, epochStarts };
}

let gatewayForIngest: "a" | "b" = "b";

/** Publishes at RATE_PER_S for PUBLISH_MS, runs `fault` at FAULT_AT_MS, and measures what two clients of one user received. */
async function scenario(fault: string, inject: () => Promise<void>): Promise<Row> {
  const user = `fault-${fault.replace(/[^a-z0-9]+/gi, "-")}`;
  const devices = [await device(user), await device(user)];
  await sleep(1200); // both registry deltas reach both routers
  const publishedAt = new Map<string, number>();
  const accepted = new Set<string>();
  const posts: Promise<void>[] = [];
  const t0 = Date.now();
  let faultMs = 0;
  let tRecovered = 0;
  const faultDone = sleep(FAULT_AT_MS).then(async () => {
    const tFault = Date.now();
    await inject();
    tRecovered = Date.now();
    faultMs = tRecovered - tFault;
  });
  const batch = RATE_PER_S / 20;
  for (let tick = 0; Date.now() - t0 < PUBLISH_MS; tick++) {
    const envelopes = Array.from({ length: batch }, (_, k) => ({
      id: `${user}-${tick * batch + k}`,
      type: "note",
      body: { tick },
      routing: { audienceType: 4, audienceValue: user },
      metadata: { producer: "faults-test", isPersisted: true },
    }));
    const now = Date.now();
    for (const e of envelopes) publishedAt.set(e.id, now);
    const port = gatewayPorts[gatewayForIngest];
    posts.push(
      fetch(`http://127.0.0.1:${port}/api/notifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(envelopes),
        signal: AbortSignal.timeout(10_000),
      })
        .then(async (res) => {
          await res.arrayBuffer();
          if (res.status === 202) for (const e of envelopes) accepted.add(e.id);
        })
        .catch(() => undefined),
    );
    await sleep(Math.max(0, t0 + (tick + 1) * 50 - Date.now()));
  }
  const tEnd = Date.now();
  await Promise.all(posts);
  await faultDone;
  const has = (d: { arrivals: Arrival[] }) => new Set(d.arrivals.map((a) => a.id));
  await waitFor(
    () => devices.every((d) => [...accepted].every((id) => has(d).has(id))),
    45_000,
    `every accepted notification on both clients (${fault})`,
  ).catch(() => undefined);
  await sleep(500); // late duplicates

  let delivered = Number.POSITIVE_INFINITY;
  let lost = 0;
  let replayed = 0;
  let duplicates = 0;
  let longestSilenceMs = 0;
  let flowingAfterRecoveryMs = 0;
  let lastAt = 0;
  for (const d of devices) {
    const seen = has(d);
    const got = [...accepted].filter((id) => seen.has(id)).length;
    delivered = Math.min(delivered, got);
    lost = Math.max(lost, accepted.size - got);
    const perEpoch = new Set<string>();
    for (const a of d.arrivals) {
      const key = `${a.epoch}\u0000${a.id}`;
      if (perEpoch.has(key)) duplicates++;
      perEpoch.add(key);
      if (a.epoch > 0 && (publishedAt.get(a.id) ?? 0) < d.epochStarts[a.epoch]!) replayed++;
      lastAt = Math.max(lastAt, a.at);
    }
    const next = d.arrivals.find((a) => a.at >= tRecovered);
    if (next !== undefined) flowingAfterRecoveryMs = Math.max(flowingAfterRecoveryMs, next.at - tRecovered);
    // Every arrival answers a publish, so until the last one something was outstanding.
    let previous = t0;
    for (const a of d.arrivals) {
      longestSilenceMs = Math.max(longestSilenceMs, a.at - previous);
      previous = a.at;
    }
  }
  for (const c of clients.splice(0)) await c.stop().catch(() => undefined);
  return {
    fault,
    accepted: accepted.size,
    delivered,
    replayed,
    duplicates,
    lost,
    faultMs,
    longestSilenceMs,
    flowingAfterRecoveryMs,
    lastAfterEndMs: Math.max(0, lastAt - tEnd),
  };
}

const rows: Row[] = [];

function writeResults(): void {
  if (process.env["TIDINGS_WRITE_RESULTS"] !== "1") return;
  const dir = fileURLToPath(new URL("../../../bench/results/", import.meta.url));
  mkdirSync(dir, { recursive: true });
  const setup = {
    ratePerSecond: RATE_PER_S,
    publishMs: PUBLISH_MS,
    faultAtMs: FAULT_AT_MS,
    routerAckWaitSeconds: ACK_WAIT_SECONDS,
    routers: 2,
    gateways: 2,
    clients: 2,
  };
  writeFileSync(`${dir}faults.json`, JSON.stringify({ setup, rows }, null, 2) + "\n");
  const md = [
    `Persisted User notifications over HTTP at ${RATE_PER_S}/s for ${PUBLISH_MS / 1000} s, fault at ${FAULT_AT_MS / 1000} s; 2 gateways, 2 routers, store service, PostgreSQL, nats-server, 2 clients of the user (separate processes).`,
    "",
    "| Fault | Accepted | Delivered | Replayed | Duplicates | Lost | Fault lasted | Delivery resumed after (longest silence) | Flowing after the part was back | Last delivery after publishing ended |",
    "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.fault} | ${r.accepted} | ${r.delivered} | ${r.replayed} | ${r.duplicates} | ${r.lost} | ${(r.faultMs / 1000).toFixed(1)} s | ${(r.longestSilenceMs / 1000).toFixed(2)} s | ${(r.flowingAfterRecoveryMs / 1000).toFixed(2)} s | ${(r.lastAfterEndMs / 1000).toFixed(2)} s |`,
    ),
    "",
  ].join("\n");
  writeFileSync(`${dir}faults.md`, md);
}

describe("faults under steady persisted publishing (separate processes)", () => {
  it("loses no accepted notification when a router, the store, nats-server, PostgreSQL or a gateway fails", async () => {
    rows.push(
      await scenario("kill -9 a router (restarted after 1 s)", async () => {
        await kill9("router-1");
        await sleep(1000);
        await start("router-1");
      }),
    );
    rows.push(
      await scenario("kill -9 the store service (restarted)", async () => {
        await kill9("store");
        await start("store");
      }),
    );
    rows.push(await scenario("restart nats-server (down 1 s)", () => nats.restart({ signal: "SIGKILL", downMs: 1000 })));
    rows.push(await scenario("restart PostgreSQL (down 4 s)", () => pg.restart({ downMs: 4000 })));
    rows.push(
      await scenario("PostgreSQL down 4 s, then kill -9 both routers and the store (restarted)", async () => {
        await pg.restart({ downMs: 4000 });
        await Promise.all([kill9("router-1"), kill9("router-2"), kill9("store")]);
        await start("store");
        await Promise.all([start("router-1"), start("router-2")]);
      }),
    );
    gatewayForIngest = "b";
    rows.push(await scenario("kill -9 a gateway (its client reconnects to the other)", () => kill9("gw-a")));
    writeResults();
    console.table(rows);
    for (const r of rows) {
      // How many are accepted while NATS is away depends on the machine's load; some must be.
      expect(r.accepted, r.fault).toBeGreaterThan(0);
      expect({ fault: r.fault, lost: r.lost }).toEqual({ fault: r.fault, lost: 0 });
    }
  }, 400_000);
});

import type { HubConnection } from "@microsoft/signalr";
import { connectNatsBus, type NatsBus } from "@tidings/bus";
import {
  buildClient,
  collect,
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
import { validateEnvelope } from "@tidings/contracts";
import { createStore } from "@tidings/store";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * The cluster of docs/architecture.md as separate OS processes: a real nats-server with JetStream, a real
 * PostgreSQL, one store service, two routers, three gateway nodes, and a round-robin TCP balancer.
 */
let nats: NatsServer;
let pg: PostgresServer;
let bus: NatsBus;
const procs: TidingsProcess[] = [];
const gateways: Record<"a" | "b" | "c", TidingsProcess> = {} as never;
const perNode = new Map<string, number>();
const clients: HubConnection[] = [];

const common = () => ({
  TIDINGS_NATS_URL: nats.url,
  TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
  TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1",
  TIDINGS_LOG_LEVEL: "info",
});

beforeAll(async () => {
  [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
  bus = await connectNatsBus(nats.url, { name: "test-observer" });
  bus.subscribe("tidings.v1.node.*", (msg) => void perNode.set(msg.subject, (perNode.get(msg.subject) ?? 0) + 1));
  const started = await Promise.all([
    startTidings({ ...common(), TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url }, "store service answering"),
    startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1" }, "router running"),
    startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-2" }, "router running"),
  ]);
  procs.push(...started);
  const ids = ["a", "b", "c"] as const;
  const started2 = await Promise.all(
    ids.map((id) =>
      startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: `gw-${id}`, TIDINGS_DRAIN_SECONDS: "1" }, "listening", 90_000),
    ),
  );
  ids.forEach((id, i) => (gateways[id] = started2[i]!));
  procs.push(...started2);
}, 180_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await Promise.all(procs.map((p) => p.stop()));
  await bus?.close();
  await nats?.stop();
  await pg?.stop();
}, 60_000);

let seq = 0;
const envelope = (audienceType: number, audienceValue: string | undefined, persisted = false) => ({
  id: `c-${process.pid}-${++seq}`,
  type: "note",
  body: { seq },
  routing: { audienceType, ...(audienceValue === undefined ? {} : { audienceValue }) },
  metadata: { producer: "cluster-test", isPersisted: persisted },
});
async function publish(via: TidingsProcess, ...envelopes: unknown[]) {
  const res = await fetch(`${via.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(envelopes),
  });
  expect(res.status).toBe(202);
}

async function device(url: string, sub: string, automaticReconnect = false) {
  const c = buildClient(url, { token: await mintToken({ sub }), skipNegotiation: true, automaticReconnect });
  clients.push(c);
  const notes = collect<{ id: string }>(c, "note");
  await c.start();
  return { c, notes, ids: () => new Set(notes.map((n) => n.id)) };
}

const counts = () => ({
  a: perNode.get("tidings.v1.node.gw-a") ?? 0,
  b: perNode.get("tidings.v1.node.gw-b") ?? 0,
  c: perNode.get("tidings.v1.node.gw-c") ?? 0,
});
const delta = (before: ReturnType<typeof counts>) => {
  const now = counts();
  return { a: now.a - before.a, b: now.b - before.b, c: now.c - before.c };
};

describe("cluster - owning-node delivery (3 gateways, 2 routers, store)", () => {
  it("routes a User notification only to the node holding that user, Global to all, Group to members", async () => {
    const b1 = await device(gateways.b.url, "only-on-b");
    const b2 = await device(gateways.b.url, "only-on-b");
    const cGroup = await device(gateways.c.url, "group-member");
    await cGroup.c.invoke("Subscribe", { audienceType: 3, audienceValue: "only-c" });
    await sleep(300); // registry deltas reach both routers

    let before = counts();
    const u = envelope(4, "only-on-b");
    await publish(gateways.a, u);
    await waitFor(() => b1.ids().has(u.id) && b2.ids().has(u.id), 5000, "both devices on B");
    await sleep(200);
    expect(delta(before)).toEqual({ a: 0, b: 1, c: 0 });

    before = counts();
    const g = envelope(3, "only-c");
    await publish(gateways.b, g);
    await waitFor(() => cGroup.ids().has(g.id));
    await sleep(200);
    expect(delta(before)).toEqual({ a: 0, b: 0, c: 1 });

    before = counts();
    const all = envelope(1, undefined);
    await publish(gateways.c, all);
    await waitFor(() => b1.ids().has(all.id) && cGroup.ids().has(all.id));
    await sleep(200);
    expect(delta(before)).toEqual({ a: 1, b: 1, c: 1 });
  });

  it("read state reaches the user's devices on other nodes", async () => {
    const onA = await device(gateways.a.url, "roaming");
    const onB = await device(gateways.b.url, "roaming");
    const events = collect<{ eventId: string; isRead: boolean }>(onB.c, "EventReadStatusChange");
    await sleep(300);
    const n = envelope(4, "roaming", true);
    await publish(gateways.a, n);
    await waitFor(() => onA.ids().has(n.id) && onB.ids().has(n.id));
    await onA.c.invoke("MarkAsRead", "user:roaming", n.id);
    await waitFor(() => events.length === 1, 1000, "the event on node B within 1 s");
    expect(events[0]).toMatchObject({ eventId: n.id, isRead: true });
  });

  it("SIGTERM drains a gateway: its clients reconnect through the balancer and lose no persisted notification", async () => {
    const lb = await TcpBalancer.start([gateways.b.port, gateways.a.port]);
    try {
      const d = await device(`http://127.0.0.1:${lb.port}`, "drained-user", true);
      const d2 = await device(`http://127.0.0.1:${lb.port}`, "drained-user", true);
      await sleep(300);
      const sent: string[] = [];
      let stopPublishing = false;
      const loop = (async () => {
        while (!stopPublishing) {
          const n = envelope(4, "drained-user", true);
          sent.push(n.id);
          await publish(gateways.a, n);
          await sleep(20);
        }
      })();
      await sleep(300);
      expect(await gateways.b.stop()).toBe(0);
      await sleep(1500);
      stopPublishing = true;
      await loop;
      for (const dev of [d, d2])
        await waitFor(() => sent.every((id) => dev.ids().has(id)), 10_000, "every persisted notification (live or replayed)");
      expect(sent.length).toBeGreaterThan(20);
    } finally {
      await lb.close();
    }
  });

  it("kill -9 of a gateway: the registry forgets it, its clients reconnect elsewhere and get what they missed by replay", async () => {
    const lb = await TcpBalancer.start([gateways.c.port, gateways.a.port]);
    try {
      const d = await device(`http://127.0.0.1:${lb.port}`, "crash-user", true);
      const reconnected = new Promise<void>((resolve) => d.c.onreconnected(() => resolve()));
      await sleep(300);
      gateways.c.child.kill("SIGKILL");
      const killedAt = Date.now();
      const missed = envelope(4, "crash-user", true);
      await publish(gateways.a, missed);
      await reconnected;
      await waitFor(() => d.ids().has(missed.id), 10_000, "the missed notification, replayed");

      // Forgotten after three missed 1 s heartbeats, found by a sweep that runs every heartbeat interval:
      // at most 1 + 3 + 1 s after the kill (the last heartbeat may have left up to 1 s before it).
      await sleep(Math.max(0, killedAt + 5500 - Date.now()));
      const before = counts();
      const all = envelope(1, undefined);
      await publish(gateways.a, all);
      await waitFor(() => d.ids().has(all.id));
      await sleep(300);
      expect(delta(before).c).toBe(0);
    } finally {
      await lb.close();
    }
  });

  // Last: it restarts nats-server under every process of this file.
  it("a gateway's NATS connection breaks: what was routed to it meanwhile reaches its clients from the store, nothing it already delivered is sent again", async () => {
    const d = await device(gateways.a.url, "outage-user");
    await sleep(300);
    const live = envelope(4, "outage-user", true);
    await publish(gateways.a, live); // B was drained and C killed by the tests above
    await waitFor(() => d.ids().has(live.id), 5000, "the live notification");
    // Saved while gateway A cannot hear the routers: exactly what a router publishes to a node and loses with the
    // connection (core NATS is at most once; the router had already acked its JetStream message).
    const handle = await createStore({ databaseUrl: pg.url, dataDir: "" });
    const lost = envelope(4, "outage-user", true);
    try {
      const restarted = nats.restart({ signal: "SIGKILL", downMs: 1500 });
      await sleep(300);
      const v = validateEnvelope(lost, { now: new Date(), defaultTtlSeconds: 3600, maxNotificationBytes: 65_536 });
      if (!v.ok) throw new Error(JSON.stringify(v.problems));
      expect(await handle.store.save(v.notification)).toBe("stored");
      await restarted;
    } finally {
      await handle.close();
    }
    await waitFor(() => d.ids().has(lost.id), 15_000, "the notification lost in flight, caught up from the store").catch((err: unknown) => {
      throw new Error(`${String(err)}\ngateway A's log:\n${gateways.a.output().slice(-4000)}`);
    });
    await sleep(500);
    expect(d.notes.filter((n) => n.id === live.id)).toHaveLength(1);
  });
});

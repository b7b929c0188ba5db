/**
 * Kill -9 a router process in the middle of 10,000 persisted notifications: after a second router
 * takes over, every (audience, id) is stored exactly once and published at least once; none lost.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, connectNatsBus, type NatsBus } from "@tidings/bus";
import { MemoryNotificationStore, subjects } from "@tidings/contracts";
import { startNats, waitFor, type NatsServer } from "@tidings/testkit";
import { SimNode, serveStore, startRouterProcess, type RouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 500;
const TOTAL = 10_000;
const USERS = 50;

let server: NatsServer;
let bus: NatsBus;
const started: RouterProcess[] = [];
const nodes: SimNode[] = [];

beforeAll(async () => {
  server = await startNats({ jetstream: true });
  bus = await connectNatsBus(server.url);
});

afterAll(async () => {
  for (const r of started) await r.kill();
  for (const n of nodes) await n.stop();
  await bus?.close();
  await server?.stop();
});

describe("router failover - kill -9 mid-stream", () => {
  it("stores every one of 10,000 persisted notifications exactly once and publishes each at least once", async () => {
    const store = new MemoryNotificationStore();
    serveStore(bus, store);
    // Users u0…u49: even ones on node-a, odd ones on node-b.
    const keys = (parity: number) =>
      Array.from({ length: USERS }, (_, i) => i)
        .filter((i) => i % 2 === parity)
        .map((i) => `user:u${i}`);
    nodes.push(
      await SimNode.start(server.url, "node-a", keys(0), HEARTBEAT_MS),
      await SimNode.start(server.url, "node-b", keys(1), HEARTBEAT_MS),
    );
    const producer = await JetStreamIngestQueue.create(bus.connection);
    const first = await startRouterProcess(server.url, "router-1", { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS });
    started.push(first);

    const enc = new TextEncoder();
    const publishing = (async () => {
      for (let start = 0; start < TOTAL; start += 500) {
        await Promise.all(
          Array.from({ length: 500 }, (_, k) => {
            const i = start + k;
            const envelope = {
              id: `n${i}`,
              type: "invoice-ready",
              body: { i },
              routing: { audienceType: 4, audienceValue: `u${i % USERS}` },
              metadata: { producer: "failover-test", isPersisted: true },
            };
            return producer.publish(subjects.notify("billing"), enc.encode(JSON.stringify(envelope)), { msgId: `n${i}` });
          }),
        );
      }
    })();

    // Crash the first router while it is busy: some notifications saved, many not yet.
    await waitFor(() => store.size >= 2000, 60_000, "first router under way");
    await first.kill();
    const savedAtCrash = store.size;
    expect(savedAtCrash).toBeLessThan(TOTAL);
    await publishing;

    const second = await startRouterProcess(server.url, "router-2", { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS });
    started.push(second);
    const delivered = () => new Set([...nodes[0]!.ids(), ...nodes[1]!.ids()]);
    await waitFor(() => store.size === TOTAL && delivered().size === TOTAL, 90_000, "all notifications stored and delivered");

    // Exactly once per (audience, id) in the store, whatever was redelivered.
    expect(store.size).toBe(TOTAL);
    for (let i = 0; i < TOTAL; i++) {
      expect(store.has(`user:u${i % USERS}`, `n${i}`)).toBe(true);
    }
    // At least once on the owning node, never on the other one.
    for (const [idx, node] of nodes.entries()) {
      for (const n of node.received) expect(Number(n.routing.audienceValue.slice(1)) % 2).toBe(idx);
    }
    expect(delivered().size).toBe(TOTAL);
    // Nothing left behind in the stream.
    let stats = await producer.stats();
    for (let i = 0; i < 50 && (stats.pending > 0 || stats.ackPending > 0); i++) {
      await new Promise((r) => setTimeout(r, 100));
      stats = await producer.stats();
    }
    expect(stats).toMatchObject({ pending: 0, ackPending: 0 });
  });
});

/**
 * Real nats-server with JetStream, two router processes (`runRouter`) sharing the durable
 * consumer, three simulated gateway nodes announcing their audiences, and a store on the bus.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, connectNatsBus, encodeIngestBody, type NatsBus } from "@tidings/bus";
import { MemoryNotificationStore, subjects, type BusMessage } from "@tidings/contracts";
import { sleep, startNats, waitFor, type NatsServer } from "@tidings/testkit";
import { SimNode, serveStore, startRouterProcess, type RouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 250;

let server: NatsServer;
let bus: NatsBus;
let producer: JetStreamIngestQueue;
let store: MemoryNotificationStore;
let routers: RouterProcess[] = [];
let nodes: Record<"a" | "b" | "c", SimNode>;
const deadLetters: BusMessage[] = [];
let published = 0;

beforeAll(async () => {
  server = await startNats({ jetstream: true });
  bus = await connectNatsBus(server.url);
  store = new MemoryNotificationStore();
  serveStore(bus, store);
  bus.subscribe(subjects.deadLetter, (m) => void deadLetters.push(m));
  await bus.flush();
  producer = await JetStreamIngestQueue.create(bus.connection);
  nodes = {
    a: await SimNode.start(server.url, "node-a", ["user:alice", "group:red"], HEARTBEAT_MS),
    b: await SimNode.start(server.url, "node-b", ["user:bob", "group:red"], HEARTBEAT_MS),
    c: await SimNode.start(server.url, "node-c", ["user:carol", "group:blue"], HEARTBEAT_MS),
  };
  routers = await Promise.all([
    startRouterProcess(server.url, "router-1", { ackWaitMs: 5000, heartbeatMs: HEARTBEAT_MS }),
    startRouterProcess(server.url, "router-2", { ackWaitMs: 5000, heartbeatMs: HEARTBEAT_MS }),
  ]);
});

afterAll(async () => {
  for (const r of routers) await r.stop();
  for (const n of Object.values(nodes ?? {})) await n.stop();
  await bus?.close();
  await server?.stop();
});

beforeEach(() => {
  for (const n of Object.values(nodes)) n.received.length = 0;
  deadLetters.length = 0;
});

async function publish(envelope: Record<string, unknown>, format: "json" | "msgpack" = "json"): Promise<void> {
  const { data, headers } = encodeIngestBody(envelope, format);
  const id = envelope["id"];
  await producer.publish(subjects.notify("billing"), data, { msgId: typeof id === "string" ? id : `anon-${++published}`, headers });
}

const envelope = (id: string, audienceType: number, audienceValue?: string, metadata: Record<string, unknown> = {}) => ({
  id,
  type: "invoice-ready",
  body: { id },
  routing: audienceValue === undefined ? { audienceType } : { audienceType, audienceValue },
  metadata: { producer: "billing", ...metadata },
});

/** Lets every router finish what it fetched, so "nothing arrived" means nothing was sent. */
const settle = () => sleep(400);

describe("cluster - owning-node delivery", () => {
  it("publishes a User notification only on the subject of the one node holding that user (0 on A and C)", async () => {
    await publish(envelope("u-bob-1", 4, "bob", { isPersisted: true }));
    await waitFor(() => nodes.b.received.length === 1, 10_000, "delivery to node-b");
    await settle();
    expect(nodes.b.ids()).toEqual(["u-bob-1"]);
    expect(nodes.a.received).toHaveLength(0);
    expect(nodes.c.received).toHaveLength(0);
    expect(store.has(nodes.b.received[0]!.routing.audienceId, nodes.b.received[0]!.id)).toBe(true);
  });

  it("publishes Global to every node once", async () => {
    await publish(envelope("global-1", 1));
    await waitFor(() => Object.values(nodes).every((n) => n.received.length === 1), 10_000, "delivery to all nodes");
    await settle();
    for (const n of Object.values(nodes)) expect(n.ids()).toEqual(["global-1"]);
  });

  it("publishes a Group only to the nodes with members", async () => {
    await publish(envelope("red-1", 3, "red"), "msgpack");
    await waitFor(() => nodes.a.received.length === 1 && nodes.b.received.length === 1, 10_000, "delivery to a and b");
    await settle();
    expect(nodes.c.received).toHaveLength(0);
    expect(nodes.a.received[0]!.routing.audienceId).toBe("group:red");
  });

  it("reaches a node that joined after the routers started, through its live delta", async () => {
    const d = await SimNode.start(server.url, "node-d", [], HEARTBEAT_MS);
    try {
      await sleep(100);
      d.announcer.add("user:dave");
      await sleep(200);
      await publish(envelope("u-dave-1", 4, "dave"));
      await waitFor(() => d.received.length === 1, 10_000, "delivery to node-d");
      await settle();
      expect(Object.values(nodes).every((n) => n.received.length === 0)).toBe(true);
    } finally {
      await d.stop();
    }
  });

  it("dead-letters an invalid envelope with the reason and routes nothing", async () => {
    await publish({ id: "broken-1", type: "invoice-ready", routing: { audienceType: 4 }, metadata: { producer: "billing" } });
    await waitFor(() => deadLetters.length === 1, 10_000, "dead letter");
    await settle();
    expect(deadLetters).toHaveLength(1);
    expect(deadLetters[0]!.headers?.["Tidings-Error"]).toBe("invalid_envelope: routing.audienceValue is required");
    expect(Object.values(nodes).every((n) => n.received.length === 0)).toBe(true);
  });

  it("delivers a burst of 500 through the two replicas exactly once when nothing fails", async () => {
    const total = 500;
    await Promise.all(Array.from({ length: total }, (_, i) => publish(envelope(`burst-${i}`, 4, "alice"))));
    await waitFor(() => nodes.a.received.length >= total, 20_000, "burst delivered");
    await settle();
    expect(new Set(nodes.a.ids()).size).toBe(total);
    expect(nodes.a.received).toHaveLength(total);
    expect(nodes.b.received).toHaveLength(0);
  });
});

/**
 * Sharded registry handover with real router processes on a real nats-server: while notifications
 * flow, routers join, leave cleanly and are killed. Every notification reaches the node holding its
 * user at least once and never a node that does not; at the end the one router left consumes every
 * partition and the map every process computes agrees.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, RouterRoster, connectNatsBus, createPartitionedIngestPublisher, type NatsBus } from "@tidings/bus";
import { subjects, validateEnvelope, type Notification } from "@tidings/contracts";
import { startNats, waitFor, type NatsServer } from "@tidings/testkit";
import { SimNode, startRouterProcess, type RouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 300;
const PARTITIONS = 16;
const USERS = 400;
const NODES = 4;

let server: NatsServer;
let bus: NatsBus;
const routers: RouterProcess[] = [];
const nodes: SimNode[] = [];

beforeAll(async () => {
  server = await startNats({ jetstream: true });
  bus = await connectNatsBus(server.url);
});

afterAll(async () => {
  for (const r of routers) await r.kill();
  for (const n of nodes) await n.stop();
  await bus?.close();
  await server?.stop();
});

const enc = new TextEncoder();
const start = (id: string) => startRouterProcess(server.url, id, { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS, partitions: PARTITIONS });

describe("sharded registry handover", () => {
  it("misses no notification and sends none to a non-owner while routers join, leave and are killed", async () => {
    // User u<i> is on node i % NODES.
    for (let n = 0; n < NODES; n++) {
      const keys = Array.from({ length: USERS }, (_, i) => i)
        .filter((i) => i % NODES === n)
        .map((i) => `user:u${i}`);
      nodes.push(await SimNode.start(server.url, `node-${n}`, keys, HEARTBEAT_MS));
    }
    const watcher = new RouterRoster({ bus, partitions: PARTITIONS, heartbeatIntervalMs: HEARTBEAT_MS });
    await watcher.start();
    const producer = await JetStreamIngestQueue.create(bus.connection);
    routers.push(await start("router-a"));

    let sent = 0;
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        await Promise.all(
          Array.from({ length: 50 }, () => {
            const i = sent++;
            const envelope = {
              id: `n${i}`,
              type: "t",
              body: { i },
              routing: { audienceType: 4, audienceValue: `u${i % USERS}` },
              metadata: { producer: "shard-test" },
            };
            return producer.publish(subjects.notify("shard"), enc.encode(JSON.stringify(envelope)), { msgId: `n${i}` });
          }),
        );
        await new Promise((r) => setTimeout(r, 20));
      }
    })();
    const settle = () => new Promise((r) => setTimeout(r, 1500));

    await settle();
    routers.push(await start("router-b")); // join
    await settle();
    routers.push(await start("router-c")); // join
    await waitFor(() => watcher.map().routers.length === 3, 10_000, "three routers in the map");
    const owners = new Set(Array.from({ length: PARTITIONS }, (_, p) => watcher.map().owner(p)));
    expect(owners.size).toBe(3);
    await settle();
    await routers[0]!.stop(); // clean leave
    await settle();
    await routers[1]!.kill(); // crash
    await settle();
    publishing = false;
    await publisher;

    const delivered = (n: number) => new Set(nodes[n]!.ids());
    const missing = () => nodes.reduce((a, _, n) => a + expectedOn(n, sent) - delivered(n).size, 0);
    await waitFor(() => missing() === 0, 30_000, "every notification delivered");
    for (const [n, node] of nodes.entries()) {
      for (const msg of node.received) expect(Number(msg.routing.audienceValue.slice(1)) % NODES, `${msg.id} on node-${n}`).toBe(n);
      const ids = delivered(n);
      for (let i = n; i < sent; i += NODES) expect(ids.has(`n${i}`), `n${i} on node-${n}`).toBe(true);
    }
    // The survivor took over every partition; the map every process derives agrees.
    await waitFor(() => watcher.map().routers.join() === "router-c", 5000, "map of the survivor");
    await waitFor(() => allServedBy(watcher, "router-c"), 10_000, "router-c serves every partition");
    const stats = await producer.stats();
    expect(stats.pending + stats.ackPending).toBe(0);
    await watcher.stop();
  });

  it("routes HTTP ingest published straight to the partition subjects, de-duplicated by id", async () => {
    routers.push(await start("router-d"));
    const parts = await JetStreamIngestQueue.create(bus.connection, {
      stream: subjects.partitionStream,
      subjects: [subjects.partitionWildcard],
    });
    const publish = createPartitionedIngestPublisher(parts, PARTITIONS);
    const notifications = Array.from({ length: 100 }, (_, i) => {
      const r = validateEnvelope(
        { id: `h${i}`, type: "t", body: {}, routing: { audienceType: 4, audienceValue: `u${i}` }, metadata: { producer: "http" } },
        { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
      );
      if (!r.ok) throw new Error("invalid test envelope");
      return r.notification;
    });
    const results = await publish(notifications);
    expect(results.every((r) => !r.duplicate)).toBe(true);
    // The same ids again: de-duplicated by the partition stream.
    expect((await publish(notifications)).every((r) => r.duplicate)).toBe(true);
    const delivered = (n: number) => nodes[n]!.received.filter((x: Notification) => x.id.startsWith("h"));
    await waitFor(() => nodes.every((_, n) => delivered(n).length >= 25), 20_000, "every HTTP notification delivered");
    for (const [n] of nodes.entries()) {
      expect(new Set(delivered(n).map((x) => x.id)).size).toBe(25);
      for (const x of delivered(n)) expect(Number(x.routing.audienceValue.slice(1)) % NODES).toBe(n);
    }
  });
});

/** Notifications 0…sent-1 for users on node `n` (user u<i % USERS> is on node (i % USERS) % NODES = i % NODES). */
function expectedOn(n: number, sent: number): number {
  return Math.floor((sent - n + NODES - 1) / NODES);
}

function allServedBy(roster: RouterRoster, id: string): boolean {
  const info = roster.routers().get(id);
  return info !== undefined && info.serving.length === PARTITIONS;
}

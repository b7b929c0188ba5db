/**
 * Sharded routers on a real three-server JetStream cluster: while producers publish persisted
 * notifications, the server leading the partition stream is killed and so is a router (kill -9).
 * Every accepted notification is stored once and delivered to the node holding its user; none lost.
 */
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, connectNatsBus, type NatsBus } from "@tidings/bus";
import { MemoryNotificationStore, subjects } from "@tidings/contracts";
import { sleep, startNatsCluster, waitFor, type NatsCluster } from "@tidings/testkit";
import { SimNode, serveStore, startRouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 500;
const PARTITIONS = 8;
const TOTAL = 2000;
const USERS = 40;
const WORKERS = 8;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("sharded routers on a JetStream cluster of three servers", () => {
  it("loses no accepted notification when the partition stream's leader server and a router are killed under load", async () => {
    const cluster: NatsCluster = await startNatsCluster({ size: 3 });
    cleanups.push(() => cluster.stop());
    const bus: NatsBus = await connectNatsBus(cluster.url);
    cleanups.push(() => bus.close());
    const store = new MemoryNotificationStore();
    serveStore(bus, store);
    // The gateway nodes stay on server 2, which is never the one killed: delivery to a node is at most
    // once (a real gateway replays from the store what its broken connection missed).
    const nodeUrl = cluster.servers[2]!.url;
    const nodes = [
      await SimNode.start(
        nodeUrl,
        "node-a",
        Array.from({ length: USERS / 2 }, (_, i) => `user:u${2 * i}`),
        HEARTBEAT_MS,
      ),
      await SimNode.start(
        nodeUrl,
        "node-b",
        Array.from({ length: USERS / 2 }, (_, i) => `user:u${2 * i + 1}`),
        HEARTBEAT_MS,
      ),
    ];
    for (const n of nodes) cleanups.push(() => n.stop());
    const tuning = { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS, partitions: PARTITIONS };
    const routerA = await startRouterProcess(cluster.servers[0]!.url, "router-a", tuning);
    cleanups.push(() => routerA.kill());
    const routerB = await startRouterProcess(cluster.servers[1]!.url, "router-b", tuning);
    cleanups.push(() => routerB.kill());

    const producer = await JetStreamIngestQueue.create(bus.connection, { timeoutMs: 2000 });
    const parts = await JetStreamIngestQueue.create(bus.connection, {
      stream: subjects.partitionStream,
      subjects: [subjects.partitionWildcard],
    });
    expect((await parts.streamSettings()).replicas).toBe(3);

    const enc = new TextEncoder();
    const acked = new Set<string>();
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < TOTAL; i = next++) {
        const envelope = {
          id: `s${i}`,
          type: "t",
          body: { i },
          routing: { audienceType: 4, audienceValue: `u${i % USERS}` },
          metadata: { producer: "shard-cluster-test", isPersisted: true },
        };
        // A producer retries with the same id until JetStream acknowledges.
        for (;;) {
          try {
            await producer.publish(subjects.notify("shard"), enc.encode(JSON.stringify(envelope)), { msgId: `s${i}` });
            acked.add(envelope.id);
            break;
          } catch {
            await sleep(50);
          }
        }
        await sleep(5);
      }
    };
    // Both streams' followers are current before a server is lost (a just-created stream's are not yet).
    for (const stream of [subjects.stream, subjects.partitionStream]) {
      for (let i = 0; ((await parts.manager.streams.info(stream)).cluster?.replicas ?? []).filter((r) => r.current).length < 2; i++) {
        if (i > 150) throw new Error(`the followers of ${stream} did not catch up`);
        await sleep(200);
      }
    }
    const loop = Promise.all(Array.from({ length: WORKERS }, worker));
    await waitFor(() => acked.size >= TOTAL / 4, 60_000, "a quarter accepted");
    const leaderIndex = async () => {
      const leader = (await parts.manager.streams.info(subjects.partitionStream)).cluster!.leader!;
      return Number(leader.slice(leader.lastIndexOf("-") + 1));
    };
    // The partition stream's leader moves off server 2 first, so the server lost is its leader.
    for (let i = 0; (await leaderIndex()) === 2; i++) {
      if (i > 20) throw new Error("the partition stream's leader stayed on server 2");
      await bus
        .request(`$JS.API.STREAM.LEADER.STEPDOWN.${subjects.partitionStream}`, new Uint8Array(0), { timeoutMs: 2000 })
        .catch(() => undefined);
      await sleep(500);
    }
    await cluster.servers[await leaderIndex()]!.stop();
    await waitFor(() => acked.size >= TOTAL / 2, 60_000, "half accepted");
    await routerA.kill();
    await loop;

    await waitFor(() => store.size === TOTAL, 120_000, `all ${TOTAL} stored (have ${store.size})`);
    const delivered = () => nodes.reduce((a, n) => a + new Set(n.ids()).size, 0);
    await waitFor(() => delivered() === TOTAL, 60_000, `all ${TOTAL} delivered (have ${delivered()})`);
    expect(acked.size).toBe(TOTAL);
    for (let i = 0; i < TOTAL; i++) expect(store.has(`user:u${i % USERS}`, `s${i}`), `s${i} stored`).toBe(true);
    for (const [idx, node] of nodes.entries()) {
      for (const n of node.received) expect(Number(n.routing.audienceValue.slice(1)) % 2, `${n.id} on node ${idx}`).toBe(idx);
    }
  }, 300_000);
});

/**
 * A real three-server JetStream cluster: the router brings stream TIDINGS to three replicas at start,
 * and killing the server that leads the stream while producers publish steadily loses no accepted
 * notification, while ingest keeps answering through the leader election.
 */
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, connectNatsBus, createIngestPublisher, type NatsBus } from "@tidings/bus";
import { MemoryNotificationStore } from "@tidings/contracts";
import { sleep, startNatsCluster, waitFor, type NatsCluster } from "@tidings/testkit";
import { SimNode, serveStore, startRouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 500;
const TOTAL = 3000;
const WORKERS = 10;
/** Pause between one worker's publishes: a steady ~1000/s in all, not a burst. */
const PACE_MS = 10;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

describe("JetStream cluster of three servers", () => {
  it("updates an existing R1 stream to R3 with limits at router start, and loses no accepted notification when the stream leader is killed under steady publishing", async () => {
    const cluster: NatsCluster = await startNatsCluster({ size: 3 });
    cleanups.push(() => cluster.stop());

    const producerBus: NatsBus = await connectNatsBus(cluster.url);
    cleanups.push(() => producerBus.close());
    // A producer that got there first created the stream with one replica.
    const queue = await JetStreamIngestQueue.create(producerBus.connection, { timeoutMs: 2000, replicas: 1 });
    expect((await queue.streamSettings()).replicas).toBe(1);

    const storeBus = await connectNatsBus(cluster.url);
    cleanups.push(() => storeBus.close());
    const store = new MemoryNotificationStore();
    serveStore(storeBus, store);
    await storeBus.flush();
    const node = await SimNode.start(cluster.url, "node-a", ["user:c"], HEARTBEAT_MS);
    cleanups.push(() => node.stop());
    // TIDINGS_NATS_URL names one server (a Kubernetes Service does the same); the client learns the others from it.
    const router = await startRouterProcess(cluster.servers[1]!.url, "router-1", { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS });
    cleanups.push(() => router.kill());

    // The router applied the configured settings: three replicas (the cluster has three servers) and the default limits.
    expect(await queue.streamSettings()).toEqual({ replicas: 3, maxBytes: 1073741824, maxAgeMs: 86_400_000, duplicateWindowMs: 120_000 });
    const jsm = queue.manager;
    const before = await jsm.streams.info("TIDINGS");
    expect(before.config.discard).toBe("new");
    for (let i = 0; ((await jsm.streams.info("TIDINGS")).cluster?.replicas ?? []).filter((r) => r.current).length < 2; i++) {
      if (i > 150) throw new Error("the stream's two followers did not catch up");
      await sleep(200);
    }

    const publish = createIngestPublisher(queue);
    const acked = new Set<string>();
    const ackTimes: number[] = [];
    let ingestErrors = 0;
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < TOTAL; i = next++) {
        const n = {
          id: `c${i}`,
          type: "cluster-test",
          body: { i },
          routing: { audienceType: 4 as const, audienceValue: "c", tenantId: null, audienceId: "user:c" },
          metadata: {
            producer: "cluster-test",
            timeStamp: new Date().toISOString(),
            isPersisted: true,
            persistedTTL: new Date(Date.now() + 3_600_000).toISOString(),
          },
        };
        // A producer retries with the same id until JetStream acknowledges (as after an HTTP 503).
        for (;;) {
          try {
            await publish([n]);
            acked.add(n.id);
            ackTimes.push(Date.now());
            break;
          } catch {
            ingestErrors++;
            await sleep(50);
          }
        }
        await sleep(PACE_MS);
      }
    };
    const started = Date.now();
    const loop = Promise.all(Array.from({ length: WORKERS }, worker));
    await waitFor(() => acked.size >= TOTAL / 4, 60_000, "a quarter acked");

    const leader = (await jsm.streams.info("TIDINGS")).cluster!.leader!;
    const victim = cluster.servers[Number(leader.slice(leader.lastIndexOf("-") + 1))]!;
    const killedAt = Date.now();
    const ackedAtKill = acked.size;
    await victim.stop(); // SIGKILL, and its store directory is gone: the server and its disk are lost.
    await loop;
    const publishedMs = Date.now() - started;

    await waitFor(() => store.size === TOTAL, 90_000, `all ${TOTAL} accepted notifications stored (have ${store.size})`);
    await waitFor(
      () => new Set(node.ids()).size === TOTAL,
      30_000,
      `all ${TOTAL} delivered to the gateway node (have ${new Set(node.ids()).size})`,
    );
    const lost = [...acked].filter((id) => !store.has("user:c", id));
    const afterKill = ackTimes.filter((t) => t > killedAt).sort((a, b) => a - b);
    const longestStallMs = Math.max(...afterKill.map((t, i) => t - (i === 0 ? killedAt : afterKill[i - 1]!)));
    console.log(
      JSON.stringify({
        accepted: acked.size,
        delivered: new Set(node.ids()).size,
        stored: store.size,
        lost: lost.length,
        ingestErrors,
        acceptedBeforeKill: ackedAtKill,
        acceptedAfterKill: afterKill.length,
        longestIngestStallAfterKillMs: longestStallMs,
        publishSeconds: publishedMs / 1000,
      }),
    );

    expect(acked.size).toBe(TOTAL);
    expect(lost).toEqual([]);
    // Ingest kept answering: publishes went on being accepted after the kill, with no long stall.
    expect(afterKill.length).toBeGreaterThan(TOTAL / 2);
    expect(longestStallMs).toBeLessThan(15_000);
    // The stream still has its surviving replicas and a leader.
    const after = await jsm.streams.info("TIDINGS");
    expect(after.cluster?.leader).toBeDefined();
    expect(after.cluster?.leader).not.toBe(leader);
  }, 240_000);
});

/**
 * Restart nats-server while producers publish: every publish JetStream acknowledged before, during
 * or after the restart is routed and stored once the cluster is back; none is lost.
 */
import { afterEach, describe, expect, it } from "vitest";
import { JetStreamIngestQueue, connectNatsBus, createIngestPublisher, type NatsBus } from "@tidings/bus";
import { MemoryNotificationStore } from "@tidings/contracts";
import { sleep, startNats, waitFor, type NatsServer } from "@tidings/testkit";
import { SimNode, serveStore, startRouterProcess, type RouterProcess } from "./cluster.js";

const HEARTBEAT_MS = 500;
const TOTAL = 2000;
const WORKERS = 20;

const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function scenario(signal: "SIGTERM" | "SIGKILL"): Promise<void> {
  const server: NatsServer = await startNats({ jetstream: true });
  cleanups.push(() => server.stop());
  const storeBus: NatsBus = await connectNatsBus(server.url);
  cleanups.push(() => storeBus.close());
  const store = new MemoryNotificationStore();
  serveStore(storeBus, store);
  await storeBus.flush();
  const node = await SimNode.start(server.url, "node-a", ["user:r"], HEARTBEAT_MS);
  cleanups.push(() => node.stop());
  const producerBus = await connectNatsBus(server.url);
  cleanups.push(() => producerBus.close());
  const publish = createIngestPublisher(await JetStreamIngestQueue.create(producerBus.connection, { timeoutMs: 1000 }));
  const router: RouterProcess = await startRouterProcess(server.url, "router-1", { ackWaitMs: 2000, heartbeatMs: HEARTBEAT_MS });
  cleanups.push(() => router.kill());

  const acked = new Set<string>();
  let failures = 0;
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < TOTAL; i = next++) {
      const n = {
        id: `r${i}`,
        type: "restart-test",
        body: { i },
        routing: { audienceType: 4 as const, audienceValue: "r", tenantId: null, audienceId: "user:r" },
        metadata: {
          producer: "restart-test",
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
          break;
        } catch {
          failures++;
          await sleep(50);
        }
      }
    }
  };
  const loop = Promise.all(Array.from({ length: WORKERS }, worker));
  await waitFor(() => acked.size >= TOTAL / 4, 60_000, "a quarter acked");
  await server.restart({ signal, downMs: 300 });
  await loop;

  expect(acked.size).toBe(TOTAL);
  expect(failures).toBeGreaterThan(0);
  await waitFor(() => store.size === TOTAL, 90_000, `all ${TOTAL} acked notifications stored (have ${store.size})`);
  for (const id of acked) expect(store.has("user:r", id)).toBe(true);
}

describe("nats-server restart during a publish loop", () => {
  it("loses no acknowledged publish across a clean restart (SIGTERM)", async () => {
    await scenario("SIGTERM");
  });

  it("loses no acknowledged publish across a crash (SIGKILL)", async () => {
    await scenario("SIGKILL");
  });
});

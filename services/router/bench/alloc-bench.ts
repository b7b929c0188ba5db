/**
 * Bytes allocated per notification in the router on its real path: a nats-server with JetStream, the
 * ingest stream filled beforehand by a producer connection, then `createRouter` consuming it through
 * `JetStreamIngestQueue` and publishing framed node messages over `NatsBus` to 3 gateway nodes'
 * subjects (nobody subscribed: nats-server drops them). The store answers saves at once after the
 * router's side of the store protocol, as in router-throughput-bench. V8's sampling heap profiler
 * runs from the router's start until every notification was routed.
 *
 *   ALLOC_AUDIENCE=group|user ALLOC_PERSISTED=0|1 ALLOC_N=50000 node --expose-gc --import tsx bench/alloc-bench.ts
 */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { JetStreamIngestQueue, MemoryAudienceRegistry, connectNatsBus, registryDigest } from "@tidings/bus";
import { FRAMED_NODE_MESSAGES, storeCodecs, type Notification, type NotificationStore } from "@tidings/contracts";
import { Registry, silentLogger } from "@tidings/observability";
import { startNats } from "@tidings/testkit";
import { createRouter, createRouterMetrics } from "../src/index.js";
import { printReport, startSampling } from "./heap-sampling.js";

const N = Number(process.env["ALLOC_N"] ?? 50_000);
const AUDIENCE = process.env["ALLOC_AUDIENCE"] ?? "group";
const PERSISTED = process.env["ALLOC_PERSISTED"] === "1";
const NODES = ["gw-a", "gw-b", "gw-c"];
const GROUPS = 10;
const USERS = 1000;

const RATE = Number(process.env["ALLOC_RATE"] ?? 0);
const enc = new TextEncoder();
const routing = (i: number) =>
  AUDIENCE === "group" ? `{"audienceType":3,"audienceValue":"g-${i % GROUPS}"}` : `{"audienceType":4,"audienceValue":"u-${i % USERS}"}`;
const envelope = (j: number, sentMs: number) =>
  enc.encode(
    `{"id":"alloc-${j}","type":"bench","body":{"benchCase":1,"benchSeq":${j},"benchTs":${sentMs.toFixed(3)}},` +
      `"routing":${routing(j)},"metadata":{"producer":"bench-e2e"${PERSISTED ? ',"isPersisted":true' : ""}}}`,
  );

if (process.env["ALLOC_PRODUCER_URL"] !== undefined) {
  // Paced producer (ALLOC_RATE per second), in its own process as in the e2e bench.
  const producer = await connectNatsBus(process.env["ALLOC_PRODUCER_URL"]);
  const queue = await JetStreamIngestQueue.create(producer.connection);
  const t0 = performance.now();
  const acks: Promise<unknown>[] = [];
  for (let j = 0; j < N;) {
    const due = Math.min(N, Math.floor(((performance.now() - t0) * RATE) / 1000) + 1);
    for (; j < due; j++) acks.push(queue.publish("tidings.notify.bench", envelope(j, Date.now()), { msgId: `alloc-${j}` }));
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(acks);
  await producer.close();
  process.exit(0);
}

const nats = await startNats({ jetstream: true });
try {
  const producer = await connectNatsBus(nats.url);
  const producerQueue = await JetStreamIngestQueue.create(producer.connection, { applyStreamConfig: true });
  for (let i = 0; RATE === 0 && i < N; i += 500) {
    const batch: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(N, i + 500); j++)
      batch.push(producerQueue.publish("tidings.notify.bench", envelope(j, Date.now()), { msgId: `alloc-${j}` }));
    await Promise.all(batch);
  }
  await producer.close();

  const registry = new MemoryAudienceRegistry();
  NODES.forEach((nodeId, n) => {
    const keys = [
      ...Array.from({ length: GROUPS }, (_, g) => `group:g-${g}`),
      ...Array.from({ length: USERS }, (_, u) => `user:u-${u}`).filter((_, u) => u % NODES.length === n),
    ];
    registry.applySnapshot({ kind: "snapshot", nodeId, seq: 0, keys, digest: registryDigest(keys), nodeMessages: [FRAMED_NODE_MESSAGES] });
  });
  const savedAnswers = new Map<number, Uint8Array>();
  const store = {
    saveMany: (ns: readonly Notification[]) => {
      storeCodecs.saveMany.request.encode(ns);
      let answer = savedAnswers.get(ns.length);
      if (answer === undefined) {
        answer = storeCodecs.saveMany.answer.encode({ ok: true, value: ns.map(() => ({ ok: true, result: "stored" as const })) });
        savedAnswers.set(ns.length, answer);
      }
      const decoded = storeCodecs.saveMany.answer.decode(answer);
      return decoded.ok ? Promise.resolve(decoded.value) : Promise.reject(new Error(decoded.error));
    },
  } as unknown as NotificationStore;

  const bus = await connectNatsBus(nats.url);
  const queue = await JetStreamIngestQueue.create(bus.connection, { applyStreamConfig: true });
  const metrics = createRouterMetrics(new Registry());
  const router = createRouter({
    bus,
    queue,
    store,
    registry,
    log: silentLogger(),
    metrics,
    options: { defaultTtlSeconds: 1800, maxNotificationBytes: 65536, registry: { heartbeatIntervalMs: 3_600_000, syncWindowMs: 10 } },
  });
  (globalThis as { gc?: () => void }).gc?.();
  const stop = await startSampling();
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  await router.start();
  if (RATE > 0) {
    spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
      env: { ...process.env, ALLOC_PRODUCER_URL: nats.url },
      stdio: "inherit",
    });
  }
  for (;;) {
    const routed = (await metrics.routed.get()).values[0]?.value ?? 0;
    if (routed >= N) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - started;
  const report = await stop();
  printReport(
    `router ${AUDIENCE} ${PERSISTED ? "persisted" : "live"}${RATE > 0 ? ` paced ${RATE}/s` : " burst"}`,
    report,
    N,
    Number(process.env["ALLOC_TOP"] ?? 15),
  );
  console.log(`  wall ${wallMs.toFixed(0)} ms, cpu ${((cpu.user + cpu.system) / N).toFixed(1)} µs per notification (profiler on)`);
  await router.stop();
  await bus.close();
} finally {
  await nats.stop();
}

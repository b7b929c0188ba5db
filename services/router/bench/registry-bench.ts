/**
 * Router benchmark: a registry of 1,000,000 audience keys over 100 simulated gateway
 * nodes. Measures registry memory per key (heap delta after GC / keys), lookups/s, and routed
 * notifications/s of one router process through `createRoute` on the in-process bus, both for
 * already-validated notifications and for the whole per-message path (JSON decode → validate →
 * route). Writes bench/results/router.json and bench/results/router.md at the repository root.
 *
 *   pnpm --filter @tidings/router bench            (BENCH_KEYS / BENCH_NODES / BENCH_SECONDS to scale)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MemoryAudienceRegistry, MemoryBus, registryDigest } from "@tidings/bus";
import { validateEnvelope, type Notification } from "@tidings/contracts";
import { createRoute } from "../src/index.js";
import { NODES, benchEnvelope, buildFleet, nodeIds, rng } from "./fleet.js";

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 2);
const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bench", "results");

// `gc()` without requiring `node --expose-gc`, so `tsx bench/registry-bench.ts` is enough.
setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapAfterGc(): number {
  for (let i = 0; i < 3; i++) gc();
  return process.memoryUsage().heapUsed;
}

function timeLoop(seconds: number, batch: number, body: (i: number) => void): { ops: number; opsPerSec: number } {
  let ops = 0;
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  while (performance.now() < deadline) {
    for (let i = 0; i < batch; i++) body(ops + i);
    ops += batch;
  }
  return { ops, opsPerSec: ops / ((performance.now() - started) / 1000) };
}

async function timeAsyncLoop(seconds: number, batch: number, body: (i: number) => void, settle: () => Promise<void>) {
  let ops = 0;
  const started = performance.now();
  const deadline = started + seconds * 1000;
  while (performance.now() < deadline) {
    for (let i = 0; i < batch; i++) body(ops + i);
    ops += batch;
    await settle();
  }
  return { ops, opsPerSec: ops / ((performance.now() - started) / 1000) };
}

async function main(): Promise<void> {
  const baseline = heapAfterGc();
  const registry = new MemoryAudienceRegistry();
  let fleet: { perNode: string[][]; memberships: number } | null = buildFleet();
  const memberships = fleet.memberships;
  const buildStarted = performance.now();
  fleet.perNode.forEach((keys, i) => {
    registry.applySnapshot({ kind: "snapshot", nodeId: nodeIds[i]!, seq: 0, keys, digest: registryDigest(keys) });
  });
  const buildMs = performance.now() - buildStarted;
  // Keep one sample key per audience for lookups; the rest of the snapshot arrays go.
  const sampleSize = 100_000;
  const sampleRandom = rng(7);
  const allKeys: string[] = fleet.perNode.flat();
  const sample = Array.from({ length: sampleSize }, () => allKeys[Math.floor(sampleRandom() * allKeys.length)]!);
  allKeys.length = 0;
  fleet = null;
  const withRegistry = heapAfterGc();
  // The sample shares the registry's strings: it costs one pointer per entry.
  const sampleBytes = sampleSize * 8;
  const registryBytes = withRegistry - baseline - sampleBytes;
  const distinctKeys = registry.keyCount();

  // Lookups: nodesFor on existing keys, iterating the answer as routing does.
  let seen = 0;
  const lookups = timeLoop(SECONDS, 10_000, (i) => {
    for (const _node of registry.nodesFor(sample[i % sampleSize]!)) seen++;
  });

  // Routing through the in-process bus, with every node subscribed to its subject.
  const bus = new MemoryBus();
  let delivered = 0;
  for (const id of nodeIds) bus.subscribe(`tidings.v1.node.${id}`, () => void delivered++);
  let publishes = 0;
  const route = createRoute({ bus, registry, onPublished: (n) => (publishes += n) });
  const mixRandom = rng(11);
  const notifications: Notification[] = [];
  const envelopes: Uint8Array[] = [];
  const enc = new TextEncoder();
  const opts = { now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 };
  for (let i = 0; i < 10_000; i++) {
    const r = mixRandom();
    // 97 % to a sampled user/group/tenant key, 3 % Global.
    const key = r < 0.03 ? "global" : sample[Math.floor(mixRandom() * sampleSize)]!;
    const envelope = benchEnvelope(`bench-${i}`, i, key);
    envelopes.push(enc.encode(JSON.stringify(envelope)));
    const v = validateEnvelope(envelope, opts);
    if (!v.ok) throw new Error(`bench envelope invalid: ${JSON.stringify(v.problems)}`);
    notifications.push(v.notification);
  }
  const routeOnly = await timeAsyncLoop(
    SECONDS,
    10_000,
    (i) => void route(notifications[i % notifications.length]!),
    () => bus.flush(),
  );
  const publishesPerNotification = publishes / routeOnly.ops;
  const dec = new TextDecoder();
  const fullPath = await timeAsyncLoop(
    SECONDS,
    10_000,
    (i) => {
      const data = envelopes[i % envelopes.length]!;
      const v = validateEnvelope(JSON.parse(dec.decode(data)), { ...opts, byteLength: data.length });
      if (v.ok) route(v.notification);
    },
    () => bus.flush(),
  );
  await bus.close();

  const result = {
    benchmark: "router-registry",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", totalMemBytes: totalmem(), node: process.version },
    fleet: { nodes: NODES, distinctKeys, memberships, keyMix: "90% user (15% on 2 nodes), 9% group (1-8 nodes), 1% tenant (5-40 nodes)" },
    registry: {
      heapBytes: registryBytes,
      bytesPerKey: Math.round(registryBytes / distinctKeys),
      bytesPerMembership: Math.round(registryBytes / memberships),
      buildMs: Math.round(buildMs),
      note: "heap delta after GC, key strings included, the lookup sample array excluded",
    },
    lookups: { perSecond: Math.round(lookups.opsPerSec), nodesIterated: seen },
    routing: {
      routeOnlyPerSecond: Math.round(routeOnly.opsPerSec),
      decodeValidateRoutePerSecond: Math.round(fullPath.opsPerSec),
      nodePublishesPerNotification: Number(publishesPerNotification.toFixed(2)),
      nodeDeliveriesCounted: delivered,
      mix: "97% user/group/tenant keys from the registry, 3% Global (every node); MemoryBus with a subscriber per node",
    },
  };

  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "router.json"), JSON.stringify(result, null, 2) + "\n");
  const mb = (b: number) => (b / 1024 / 1024).toFixed(1);
  const md = `# Router benchmark

\`pnpm --filter @tidings/router bench\` — ${result.date}, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}.

Fleet: ${NODES} simulated gateway nodes, ${distinctKeys.toLocaleString("en-US")} distinct audience keys, ${memberships.toLocaleString("en-US")} (key, node) memberships (${result.fleet.keyMix}).

| Measure | Value |
|---|---|
| Registry heap | ${mb(registryBytes)} MiB |
| Memory per key | ${result.registry.bytesPerKey} B (${result.registry.bytesPerMembership} B per membership) |
| Registry build from 100 snapshots | ${result.registry.buildMs} ms |
| Lookups (\`nodesFor\` + iterate) | ${result.lookups.perSecond.toLocaleString("en-US")} /s |
| Routed notifications, route only (encode once, publish per owner) | ${result.routing.routeOnlyPerSecond.toLocaleString("en-US")} /s |
| Routed notifications, JSON decode + validate + route | ${result.routing.decodeValidateRoutePerSecond.toLocaleString("en-US")} /s |
| Node publishes per notification | ${result.routing.nodePublishesPerNotification} |

One router process, one core, in-process bus (${result.routing.mix}). Memory per key is the heap
delta after GC divided by distinct keys, key strings included. Over NATS the router's ceiling is set
by JetStream acks and the store round trip, not by these numbers; see the integration tests.
`;
  writeFileSync(join(RESULTS_DIR, "router.md"), md);
  process.stdout.write(md);
}

await main();

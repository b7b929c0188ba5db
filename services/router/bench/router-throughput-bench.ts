/**
 * Router throughput through its own per-message path, with a registry of 1,000,000 audience keys on
 * 100 gateway nodes: `createRouter` consuming JSON ingest messages (decode → validate → span → store
 * save when persisted → route: encode once, publish per owning node → ack → metrics), as `run-router`
 * wires it. What the router does not own is stubbed so that only the router's CPU is measured: the
 * queue hands out prepared messages (up to `maxInFlight` at once, like the JetStream consumer) and
 * counts acks; the bus counts node publishes; the store answers saves at once, after the router
 * side of the store protocol (request encoded, answer decoded) as `BusNotificationStore` does it. Routed/s per core =
 * messages ÷ process CPU seconds (user + system) over the window. Writes
 * bench/results/router-throughput.json and .md at the repository root.
 *
 *   pnpm --filter @tidings/router bench:throughput     (BENCH_KEYS / BENCH_NODES / BENCH_MESSAGES / BENCH_REPS to scale)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryAudienceRegistry, registryDigest } from "@tidings/bus";
import {
  FRAMED_NODE_MESSAGES,
  storeCodecs,
  type Bus,
  type BusHeaders,
  type BusMessage,
  type IngestConsumer,
  type IngestMessage,
  type IngestQueue,
  type Notification,
  type NotificationStore,
} from "@tidings/contracts";
import { Registry, silentLogger } from "@tidings/observability";
import { createRouter, createRouterMetrics } from "../src/index.js";
import { NODES, benchEnvelope, buildFleet, nodeIds, rng } from "./fleet.js";

const MESSAGES = Number(process.env["BENCH_MESSAGES"] ?? 200_000);
const REPS = Number(process.env["BENCH_REPS"] ?? 3);
const MAX_IN_FLIGHT = 64;
const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bench", "results");

/** Counts node publishes; nothing leaves the process. */
class CountingBus implements Bus {
  publishes = 0;
  publish(_subject: string, _data: Uint8Array, _headers?: BusHeaders): void {
    this.publishes++;
  }
  subscribe(subject: string) {
    return { subject, unsubscribe: () => undefined };
  }
  request(): Promise<BusMessage> {
    return Promise.reject(Object.assign(new Error("no responders"), { name: "NoRespondersError" }));
  }
  flush(): Promise<void> {
    return Promise.resolve();
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

interface Prepared {
  data: Uint8Array;
  headers: BusHeaders;
}

/** Hands out prepared messages to the router's handler, `maxInFlight` at a time; `feed` resolves when all were acked. */
class BenchQueue implements IngestQueue {
  #handler: ((msg: IngestMessage) => Promise<void>) | null = null;
  #maxInFlight = 1;
  acked = 0;
  nakd = 0;

  publish(): never {
    throw new Error("the bench queue is fed, not published to");
  }

  consume(handler: (msg: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): IngestConsumer {
    this.#handler = handler;
    this.#maxInFlight = opts.maxInFlight;
    return { stop: () => Promise.resolve() };
  }

  feed(messages: readonly Prepared[]): Promise<void> {
    const handler = this.#handler;
    if (handler === null) throw new Error("not consuming");
    let next = 0;
    let done = 0;
    return new Promise((resolve, reject) => {
      const ack = () => {
        this.acked++;
        return Promise.resolve();
      };
      const nak = () => void this.nakd++;
      // Shared, as ack and nak: a closure per message would count the stub's cost as the router's.
      const working = () => undefined;
      const pump = (): void => {
        if (next === messages.length) {
          if (++done === this.#maxInFlight) resolve();
          return;
        }
        const m = messages[next++]!;
        const msg: IngestMessage = {
          subject: "tidings.notify.bench",
          data: m.data,
          headers: m.headers,
          deliveryCount: 1,
          ack,
          nak,
          working,
        };
        handler(msg).then(pump, reject);
      };
      for (let i = 0; i < this.#maxInFlight; i++) pump();
    });
  }
}

interface Sample {
  cpuUs: number;
  wallMs: number;
}

async function main(): Promise<void> {
  const registry = new MemoryAudienceRegistry();
  const fleet = buildFleet();
  // Every node reads framed node messages, as gateways of this version announce: the router's encode is the framed one.
  fleet.perNode.forEach((keys, i) =>
    registry.applySnapshot({
      kind: "snapshot",
      nodeId: nodeIds[i]!,
      seq: 0,
      keys,
      digest: registryDigest(keys),
      nodeMessages: [FRAMED_NODE_MESSAGES],
    }),
  );
  const sampleRandom = rng(7);
  const allKeys = fleet.perNode.flat();
  const sample = Array.from({ length: 100_000 }, () => allKeys[Math.floor(sampleRandom() * allKeys.length)]!);
  allKeys.length = 0;

  // 97 % to a user/group/tenant key of the registry, 3 % Global (every node): as registry-bench.
  const enc = new TextEncoder();
  const mixRandom = rng(11);
  const messagesOf = (persisted: boolean): Prepared[] =>
    Array.from({ length: MESSAGES }, (_, i) => {
      const r = mixRandom();
      const key = r < 0.03 ? "global" : sample[Math.floor(mixRandom() * sample.length)]!;
      const id = `bench-${persisted ? "p" : "l"}-${i}`;
      const envelope = benchEnvelope(id, i, key, persisted);
      return { data: enc.encode(JSON.stringify(envelope)), headers: { "Nats-Msg-Id": `http:${id}` } };
    });

  const bus = new CountingBus();
  const queue = new BenchQueue();
  // The store's client side as BusNotificationStore does it: the request encoded, the store's answer
  // (prepared outside the window, as the store process would send it) decoded; no bus round trip.
  let saves = 0;
  let saveRequests = 0;
  const savedAnswer = storeCodecs.save.answer.encode({ ok: true, value: "stored" });
  const batchAnswers = new Map<number, Uint8Array>();
  for (let count = 1; count <= MAX_IN_FLIGHT; count++) {
    batchAnswers.set(
      count,
      storeCodecs.saveMany.answer.encode({
        ok: true,
        value: Array.from({ length: count }, () => ({ ok: true, result: "stored" as const })),
      }),
    );
  }
  const store = {
    save: (n: Notification) => {
      saves++;
      saveRequests++;
      storeCodecs.save.request.encode(n);
      const answer = storeCodecs.save.answer.decode(savedAnswer);
      return answer.ok ? Promise.resolve(answer.value) : Promise.reject(new Error(answer.error));
    },
    saveMany: (ns: readonly Notification[]) => {
      saves += ns.length;
      saveRequests++;
      storeCodecs.saveMany.request.encode(ns);
      const answer = storeCodecs.saveMany.answer.decode(batchAnswers.get(ns.length)!);
      return answer.ok ? Promise.resolve(answer.value) : Promise.reject(new Error(answer.error));
    },
  } as unknown as NotificationStore;
  const router = createRouter({
    bus,
    queue,
    store,
    registry,
    log: silentLogger(),
    metrics: createRouterMetrics(new Registry()),
    options: {
      defaultTtlSeconds: 1800,
      maxNotificationBytes: 65536,
      maxInFlight: MAX_IN_FLIGHT,
      registry: { heartbeatIntervalMs: 3_600_000, syncWindowMs: 10 },
    },
  });
  await router.start();

  const variants = [
    { name: "live", persisted: false, text: "not persisted (routed only)" },
    { name: "persisted", persisted: true, text: "persisted (store request encoded, answer decoded, awaited; the store answers at once)" },
  ] as const;
  const samples: Record<string, Sample[]> = { live: [], persisted: [] };
  // Each variant's messages are prepared once, before the first round, and fed again in every round: a
  // fresh set per round was ~60 MB of the bench's own garbage, whose full collections (marking the 1M-key
  // registry) fell into the measured windows at random.
  const prepared = { live: messagesOf(false), persisted: messagesOf(true) };
  // one warm-up round per variant, then REPS rounds interleaved
  for (let rep = -1; rep < REPS; rep++) {
    for (const v of variants) {
      const messages = prepared[v.name];
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      await queue.feed(messages);
      const wallMs = performance.now() - t0;
      const cpu = process.cpuUsage(cpu0);
      if (rep >= 0) samples[v.name]!.push({ cpuUs: cpu.user + cpu.system, wallMs });
      if (queue.nakd > 0) throw new Error(`${queue.nakd} messages nak'ed`);
    }
  }
  await router.stop();
  const expectedAcks = (REPS + 1) * variants.length * MESSAGES;
  if (queue.acked !== expectedAcks) throw new Error(`acked ${queue.acked}, expected ${expectedAcks}`);

  const median = (xs: Sample[]) => [...xs].sort((a, b) => a.cpuUs - b.cpuUs)[Math.floor(xs.length / 2)]!;
  const rows = variants.map((v) => {
    const m = median(samples[v.name]!);
    return {
      variant: v.name,
      text: v.text,
      routedPerCpuSecond: Math.round(MESSAGES / (m.cpuUs / 1e6)),
      cpuUsPerMessage: Number((m.cpuUs / MESSAGES).toFixed(2)),
      routedPerWallSecond: Math.round(MESSAGES / (m.wallMs / 1000)),
      samplesRoutedPerCpuSecond: samples[v.name]!.map((s) => Math.round(MESSAGES / (s.cpuUs / 1e6))),
    };
  });
  const result = {
    benchmark: "router-throughput",
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version },
    loadAverageAfter: loadavg().map((l) => Number(l.toFixed(2))),
    fleet: { nodes: NODES, distinctKeys: registry.keyCount(), memberships: fleet.memberships },
    messagesPerRound: MESSAGES,
    reps: REPS,
    maxInFlight: MAX_IN_FLIGHT,
    nodePublishesPerMessage: Number((bus.publishes / queue.acked).toFixed(2)),
    storeSaves: saves,
    storeRequests: saveRequests,
    target: { routedPerSecond: 100_000 },
    rows,
  };
  mkdirSync(RESULTS_DIR, { recursive: true });
  writeFileSync(join(RESULTS_DIR, "router-throughput.json"), JSON.stringify(result, null, 2) + "\n");
  const fmt = (n: number) => n.toLocaleString("en-US");
  const md = `### Router throughput through its per-message path (1M registry keys)

\`pnpm --filter @tidings/router bench:throughput\` — ${result.date}, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, load average after ${result.loadAverageAfter.join(" / ")} (shared box).

\`createRouter\` consuming ${fmt(MESSAGES)} JSON ingest messages per round (${MAX_IN_FLIGHT} in flight), registry of ${fmt(result.fleet.distinctKeys)} keys on ${NODES} nodes that read framed node messages (97 % keyed audiences, 3 % Global; ${result.nodePublishesPerMessage} node publishes per message; ${fmt(saves)} saves in ${fmt(saveRequests)} store requests). Queue, bus and store are stubs that count (the store stub encodes each request and decodes its answer, as the router's store client does): the figures are the router's own CPU. Median of ${REPS} rounds (after a warm-up round), interleaved; each variant's messages are prepared once, before the rounds, and fed in every round.

| Messages | Routed / CPU-second (per core) | CPU µs / message | Routed / s (wall) | Samples (routed / CPU-s) | Target |
|---|---|---|---|---|---|
${rows.map((r) => `| ${r.text} | ${fmt(r.routedPerCpuSecond)} | ${r.cpuUsPerMessage} | ${fmt(r.routedPerWallSecond)} | ${r.samplesRoutedPerCpuSecond.map(fmt).join(", ")} | ≥ 100,000 |`).join("\n")}
`;
  writeFileSync(join(RESULTS_DIR, "router-throughput.md"), md);
  process.stdout.write(md);
}

await main();

/**
 * The end-to-end producer process: publishes notifications at a fixed rate, open loop (a late
 * answer never delays the next send), either over HTTP (`POST /api/notifications`, round robin over
 * the gateways, 202 once accepted) or straight to JetStream on `tidings.notify.bench` with
 * `Nats-Msg-Id` (through `@tidings/bus`, as a producer service in the cluster would). Every body
 * carries its sequence and send time; the producer reports what it sent, the acks, and how late
 * each send was against its schedule.
 */
import * as hdr from "hdr-histogram-js";
import { childArgs, emit, serve } from "../proc.js";
import { HttpPool } from "./http-pool.js";
import { benchEnvelope, dueBy, type Audience } from "./payload.js";

export type ProducerMode = "http" | "jetstream";

export interface ProducerArgs {
  mode: ProducerMode;
  /** HTTP: gateway ports, used round robin */
  ports: number[];
  /** JetStream: the NATS server */
  natsUrl: string | null;
}

export interface ProduceArgs {
  caseId: string;
  caseNo: number;
  rate: number;
  total: number;
  audience: Audience;
  groups: number;
  /** most requests / publishes awaiting their answer; beyond it a send waits (and is late) */
  maxInFlight: number;
}

export interface ProduceResult {
  mode: ProducerMode;
  sent: number;
  acked: number;
  failed: number;
  errors: string[];
  /** first send to last send */
  sendMs: number;
  /** sent ÷ sendMs */
  achievedRate: number;
  /** how late sends were against the fixed schedule, µs */
  lagUs: { p50: number; p99: number; max: number };
  /** send → 202 (HTTP) or JetStream publish ack, µs */
  ackUs: { p50: number; p99: number; p999: number; max: number };
  maxInFlightSeen: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

/** The part of `@tidings/bus` the producer uses (imported at run time: bench does not depend on it). */
interface BusModule {
  connectNatsBus(url: string, opts?: { name?: string }): Promise<{ connection: unknown; close(): Promise<void> }>;
  JetStreamIngestQueue: {
    create(nc: unknown): Promise<{ publish(subject: string, data: Uint8Array, opts: { msgId: string }): Promise<{ duplicate: boolean }> }>;
  };
}

export const BENCH_SUBJECT = "tidings.notify.bench";
const BUS_MODULE = new URL("../../../packages/bus/src/index.ts", import.meta.url).href;

const args = childArgs<ProducerArgs>();
// Keep-alive connections, at most 64 per gateway, as a producer's connection pool would hold: a request
// waiting for a free connection counts as latency (it is the producer's queue). Without the cap the
// producer opened hundreds of connections on this 2-core box, and HTTP-ingest p50 went from 18 ms to
// 252 ms in back-to-back runs (bench/results/changes.md). A connection idle for 4 s is closed by the
// producer, before the server's 10 s idle close could race a request sent on it ("socket hang up").
// The client is a lean one of the bench's own (http-pool.ts): node:http cost ~60 µs per request.
const HTTP_IDLE_CLOSE_MS = 4000;
const HTTP_MAX_CONNECTIONS = 64;
const pools = args.mode === "http" ? args.ports.map((port) => new HttpPool(port, HTTP_MAX_CONNECTIONS, HTTP_IDLE_CLOSE_MS)) : [];
const encoder = new TextEncoder();
let send: ((body: string, msgId: string) => Promise<void>) | null = null;
let closeBus: (() => Promise<void>) | null = null;

async function init(): Promise<void> {
  if (args.mode === "http") {
    let next = 0;
    send = async (body) => {
      const status = await pools[next++ % pools.length]!.post("/api/notifications", "application/json", body);
      if (status !== 202) throw new Error(`HTTP ${status}`);
    };
  } else {
    if (args.natsUrl === null) throw new Error("jetstream mode needs a NATS URL");
    const bus = (await import(BUS_MODULE)) as BusModule;
    const nats = await bus.connectNatsBus(args.natsUrl, { name: "bench-producer" });
    const queue = await bus.JetStreamIngestQueue.create(nats.connection);
    send = async (body, msgId) => {
      const ack = await queue.publish(BENCH_SUBJECT, encoder.encode(body), { msgId });
      if (ack.duplicate) throw new Error(`JetStream reported ${msgId} as a duplicate`);
    };
    closeBus = () => nats.close();
  }
}

function histogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

async function produce(a: ProduceArgs): Promise<ProduceResult> {
  const doSend = send;
  if (doSend === null) throw new Error("not initialised");
  const lag = histogram();
  const ack = histogram();
  const errors = new Set<string>();
  const cpuFrom = process.cpuUsage();
  let sent = 0;
  let acked = 0;
  let failed = 0;
  let inFlight = 0;
  let maxInFlightSeen = 0;
  let firstSend = 0;
  let lastSend = 0;
  const start = performance.now();
  await new Promise<void>((resolve) => {
    let finished = false;
    const settle = () => {
      inFlight--;
      if (!finished && sent === a.total && inFlight === 0) {
        finished = true;
        resolve();
      }
    };
    const tick = () => {
      const now = performance.now();
      const due = dueBy(now - start, a.rate, a.total);
      while (sent < due && inFlight < a.maxInFlight) {
        const seq = sent++;
        const t = performance.now();
        const sentMs = performance.timeOrigin + t;
        if (seq === 0) firstSend = t;
        lastSend = t;
        lag.recordValue(Math.max(1, Math.round((t - (start + (seq * 1000) / a.rate)) * 1000)));
        inFlight++;
        if (inFlight > maxInFlightSeen) maxInFlightSeen = inFlight;
        doSend(benchEnvelope(a.caseId, a.caseNo, seq, a.audience, a.groups, sentMs), `${a.caseId}-${seq}`).then(
          () => {
            acked++;
            ack.recordValue(Math.max(1, Math.round((performance.now() - t) * 1000)));
            settle();
          },
          (err: unknown) => {
            failed++;
            if (errors.size < 5) errors.add(err instanceof Error ? err.message : String(err));
            settle();
          },
        );
      }
      if (sent < a.total) setTimeout(tick, 1);
    };
    tick();
  });
  const cpu = process.cpuUsage(cpuFrom);
  const sendMs = lastSend - firstSend;
  const result: ProduceResult = {
    mode: args.mode,
    sent,
    acked,
    failed,
    errors: [...errors],
    sendMs,
    achievedRate: sendMs > 0 ? Math.round(((sent - 1) * 1000) / sendMs) : 0,
    lagUs: { p50: lag.getValueAtPercentile(50), p99: lag.getValueAtPercentile(99), max: lag.maxValue },
    ackUs: {
      p50: ack.getValueAtPercentile(50),
      p99: ack.getValueAtPercentile(99),
      p999: ack.getValueAtPercentile(99.9),
      max: ack.maxValue,
    },
    maxInFlightSeen,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
  lag.destroy();
  ack.destroy();
  return result;
}

serve({
  produce: (a) => produce(a as ProduceArgs),
  close: async () => {
    for (const p of pools) p.destroy();
    await closeBus?.();
  },
});
init().then(
  () => emit("ready", { pid: process.pid }),
  (err: unknown) => {
    process.stderr.write(`bench producer: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

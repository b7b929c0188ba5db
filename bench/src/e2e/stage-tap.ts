/**
 * The per-stage timing process of the end-to-end harness: a plain NATS subscriber on the ingest
 * subjects (`tidings.notify.>`: the message reached nats-server, whoever published it) and on one
 * gateway node's subject (`tidings.v1.node.<id>`: the router published it to that node). For each
 * message it reads the producer's send time from the body (the same byte search as the clients) and
 * records "send → here" in an HDR histogram per stage, so a case's latency splits into producer +
 * ingest, router, and gateway delivery. Its own receive path is in each figure (as the clients' is
 * in theirs). It is an extra busy process with two more subscriptions on nats-server, so it runs only
 * in separate diagnostic cases, never in the measured ones.
 */
import * as hdr from "hdr-histogram-js";
import { childArgs, emit, serve } from "../proc.js";
import { readBenchFields } from "./payload.js";

export interface StageTapArgs {
  natsUrl: string;
  /** the gateway node whose subject is tapped */
  nodeId: string;
}

export interface StageArmArgs {
  caseNo: number;
  /** sequences below this are warm-up, not recorded */
  warmup: number;
}

/** Per stage, compressed HDR histograms (µs) of send → seen on that subject. */
export interface StageReport {
  ingest: string;
  routed: string;
  ingestCount: number;
  routedCount: number;
}

interface Sub {
  unsubscribe(): void;
}
interface NatsConnection {
  flush(): Promise<void>;
  subscribe(subject: string, opts: { callback: (err: unknown, msg: { data: Uint8Array }) => void }): Sub;
}
interface BusModule {
  connectNatsBus(url: string, opts?: { name?: string }): Promise<{ connection: NatsConnection; close(): Promise<void> }>;
}

const BUS_MODULE = new URL("../../../packages/bus/src/index.ts", import.meta.url).href;
const args = childArgs<StageTapArgs>();

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

let armed: StageArmArgs | null = null;
let ingest = newHistogram();
let routed = newHistogram();

function record(h: hdr.Histogram, data: Uint8Array): void {
  const a = armed;
  if (a === null) return;
  const nowMs = performance.timeOrigin + performance.now();
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  const f = readBenchFields(buf, 0, buf.length);
  if (f === null || f.caseNo !== a.caseNo || f.seq < a.warmup) return;
  h.recordValue(Math.max(1, Math.round((nowMs - f.sentMs) * 1000)));
}

async function main(): Promise<void> {
  const bus = (await import(BUS_MODULE)) as BusModule;
  const nats = await bus.connectNatsBus(args.natsUrl, { name: "bench-stage-tap" });
  // Subscribed only from arm to report: between its own cases the tap costs nats-server and the box nothing.
  let subs: Sub[] = [];
  const unsubscribe = () => {
    for (const s of subs) s.unsubscribe();
    subs = [];
  };
  serve({
    arm: async (a) => {
      armed = a as StageArmArgs;
      ingest.destroy();
      routed.destroy();
      ingest = newHistogram();
      routed = newHistogram();
      unsubscribe();
      subs = [
        nats.connection.subscribe("tidings.notify.>", { callback: (_e, m) => record(ingest, m.data) }),
        nats.connection.subscribe(`tidings.v1.node.${args.nodeId}`, { callback: (_e, m) => record(routed, m.data) }),
      ];
      await nats.connection.flush(); // the server has the subscriptions before the case starts
    },
    report: (): StageReport => {
      unsubscribe();
      return {
        ingest: hdr.encodeIntoCompressedBase64(ingest),
        routed: hdr.encodeIntoCompressedBase64(routed),
        ingestCount: ingest.totalCount,
        routedCount: routed.totalCount,
      };
    },
    close: async () => {
      unsubscribe();
      await nats.close();
    },
  });
  emit("ready", { pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench stage tap: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

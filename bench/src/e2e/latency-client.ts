/**
 * The end-to-end latency client process: holds SignalR JSON WebSocket connections (raw TCP,
 * skipNegotiation) spread over the gateways, optionally each subscribed to one Group, and on every
 * notification reads the sequence number and send timestamp the producer put in its body. Latency
 * (receipt − send, both `performance.timeOrigin + performance.now()` on the same host) goes into an
 * HDR histogram in microseconds; receipts are counted per sequence for loss and duplicates.
 */
import type { Socket } from "node:net";
import * as hdr from "hdr-histogram-js";
import { childArgs, emit, serve } from "../proc.js";
import { FrameReader, OPCODE_BINARY, OPCODE_CLOSE, OPCODE_PING, OPCODE_PONG, OPCODE_TEXT, clientFrame } from "../client/frames.js";
import { UpgradeReader, connectUpgrade } from "../client/upgrade.js";
import { readBenchFields } from "./payload.js";
import { LateLog } from "./tail-trace.js";

export interface LatencyClientArgs {
  index: number;
}

export interface LatencyOpenArgs {
  /** gateway ports; connection i (numbered across all client processes) goes to ports[i % n] */
  ports: number[];
  /** global number of this process's first connection */
  first: number;
  count: number;
  addrs: string[];
  /** 0: no Subscribe (Global only); else connection i joins group `g-${i % groups}` */
  groups: number;
  concurrency: number;
}

export interface LatencyOpenResult {
  opened: number;
  failed: number;
  errors: string[];
  ms: number;
}

export interface ArmArgs {
  /** number of the case, as in the bodies; deliveries of other cases count as foreign */
  caseNo: number;
  /** sequences 0 … total-1 will be sent */
  total: number;
  /** sequences below this are warm-up: counted for loss, not recorded in the histogram */
  warmup: number;
  /** "global": every connection gets every sequence; else sequence s goes to group s % groups */
  audience: "global" | "group";
  groups: number;
}

export interface LatencyReport {
  /** deliveries expected (measured window), received, missing, extra */
  expected: number;
  received: number;
  lost: number;
  duplicates: number;
  warmupLost: number;
  /** deliveries of sequences never sent or of another case */
  foreign: number;
  /** compressed HDR histogram of latencies in µs (measured window only) */
  histogram: string;
  closedByServer: number;
  cpuUserUs: number;
  cpuSystemUs: number;
}

const args = childArgs<LatencyClientArgs>();
const HANDSHAKE = clientFrame(Buffer.from('{"protocol":"json","version":1}\x1e'));
const PING = clientFrame(Buffer.from('{"type":6}\x1e'));
const RS = 0x1e;
const TYPE_DIGIT = 8; // {"type":N

/** e2e-probe's PROBE_TRACE_DIR: the late deliveries of each case, for e2e/tail-trace.ts. */
const traceDir = process.env["E2E_TRACE_DIR"];
const lateLog = traceDir === undefined || traceDir === "" ? null : new LateLog(traceDir);

let histogram = newHistogram();
/** receipts per sequence in the current case */
let seen = new Uint16Array(0);
let armed: ArmArgs | null = null;
let foreign = 0;
let closedByServer = 0;

function newHistogram(): hdr.Histogram {
  return hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 120_000_000, numberOfSignificantValueDigits: 3 });
}

function onNotification(caseNo: number, seq: number, sentMs: number, nowMs: number): void {
  if (armed === null || caseNo !== armed.caseNo || seq < 0 || seq >= armed.total || !Number.isInteger(seq)) {
    foreign++;
    return;
  }
  seen[seq]!++;
  if (seq < armed.warmup) return;
  histogram.recordValue(Math.max(1, Math.round((nowMs - sentMs) * 1000)));
  lateLog?.record(caseNo, nowMs, nowMs - sentMs);
}

class Conn {
  open = false;
  closedByUs = false;
  subscribed = false;
  readonly socket: Socket;
  readonly #reader = new FrameReader();
  readonly #upgrade = new UpgradeReader();
  #upgraded = false;
  #handshaken = false;

  constructor(
    port: number,
    addr: string,
    readonly group: string | null,
    private readonly done: (ok: boolean, why?: string) => void,
  ) {
    this.socket = connectUpgrade(port, addr, "/notifications", (chunk) => this.#data(chunk));
    this.socket.on("error", (err) => this.#settle(false, err.message));
    this.socket.once("close", () => {
      if (!this.open) this.#settle(false, "closed before it was ready");
      else if (!this.closedByUs) closedByServer++;
      this.open = false;
    });
  }

  #settled = false;
  #settle(ok: boolean, why?: string): void {
    if (this.#settled) return;
    this.#settled = true;
    if (ok) this.open = true;
    else this.socket.destroy();
    this.done(ok, why);
  }

  /** `chunk` is the shared read buffer: valid during this call only (FrameReader copies what it keeps). */
  #data(chunk: Buffer): void {
    if (!this.#upgraded) {
      const answer = this.#upgrade.push(Buffer.from(chunk));
      if (answer === undefined) return;
      if (!answer.switched) return this.#settle(false, answer.status);
      this.#upgraded = true;
      this.socket.write(HANDSHAKE);
      chunk = answer.rest;
      if (chunk.length === 0) return;
    }
    const now = performance.timeOrigin + performance.now();
    this.#reader.push(chunk, (opcode, buf, start, end) => this.#frame(opcode, buf, start, end, now));
  }

  #frame(opcode: number, buf: Buffer, start: number, end: number, now: number): void {
    if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      let record = start;
      while (record < end) {
        let rs = buf.indexOf(RS, record);
        if (rs === -1 || rs > end) rs = end;
        this.#record(buf, record, rs, now);
        record = rs + 1;
      }
    } else if (opcode === OPCODE_PING) {
      this.socket.write(clientFrame(Buffer.from(buf.subarray(start, end)), OPCODE_PONG));
    } else if (opcode === OPCODE_CLOSE) {
      if (!this.open) this.#settle(false, `close frame: ${buf.toString("utf8", start + 2, end)}`);
      this.socket.end();
    }
  }

  #record(buf: Buffer, start: number, end: number, now: number): void {
    if (!this.#handshaken) {
      // `{}`, the handshake response; anything longer carries an error
      if (end - start > 2) return this.#settle(false, `handshake refused: ${buf.toString("utf8", start, Math.min(end, start + 200))}`);
      this.#handshaken = true;
      if (this.group === null) return this.#settle(true);
      const invoke = { type: 1, invocationId: "1", target: "Subscribe", arguments: [{ audienceType: 3, audienceValue: this.group }] };
      this.socket.write(clientFrame(Buffer.from(`${JSON.stringify(invoke)}\x1e`)));
      return;
    }
    const type = buf[start + TYPE_DIGIT];
    if (type === 0x31 /* 1: Invocation */) {
      const f = readBenchFields(buf, start, end);
      if (f === null) foreign++;
      else onNotification(f.caseNo, f.seq, f.sentMs, now);
    } else if (type === 0x33 /* 3: Completion */ && !this.open) {
      const text = buf.toString("utf8", start, end);
      if (text.includes('"error"')) this.#settle(false, `Subscribe failed: ${text.slice(0, 200)}`);
      else this.#settle(true);
    }
  }

  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }
}

let conns: Conn[] = [];
let keepAlive: NodeJS.Timeout | null = null;

async function open(a: LatencyOpenArgs): Promise<LatencyOpenResult> {
  const started = performance.now();
  const errors = new Set<string>();
  let opened = 0;
  let failed = 0;
  let launched = 0;
  let settled = 0;
  await new Promise<void>((resolve) => {
    if (a.count === 0) return resolve();
    const launch = () => {
      while (launched < a.count && launched - settled < a.concurrency) {
        const i = launched++;
        const global = a.first + i;
        conns.push(
          new Conn(
            a.ports[global % a.ports.length]!,
            a.addrs[i % a.addrs.length]!,
            a.groups > 0 ? `g-${global % a.groups}` : null,
            (ok, why) => {
              if (ok) opened++;
              else {
                failed++;
                if (errors.size < 5 && why !== undefined) errors.add(why);
              }
              if (++settled === a.count) resolve();
              else launch();
            },
          ),
        );
      }
    };
    launch();
  });
  // The server closes a connection that sent nothing for TIDINGS_CLIENT_TIMEOUT_SECONDS (30 s).
  keepAlive ??= setInterval(() => {
    for (const c of conns) if (c.open) c.socket.write(PING);
  }, 5000);
  return { opened, failed, errors: [...errors], ms: performance.now() - started };
}

function arm(a: ArmArgs): void {
  histogram.destroy();
  histogram = newHistogram();
  seen = new Uint16Array(a.total);
  armed = a;
  foreign = 0;
}

/** Deliveries expected per sequence: open connections of this process in the sequence's audience. */
function expectedFor(a: ArmArgs): (seq: number) => number {
  const open = conns.filter((c) => c.open);
  if (a.audience === "global") return () => open.length;
  const perGroup = new Uint32Array(a.groups);
  for (const c of open) if (c.group !== null) perGroup[Number(c.group.slice(2)) % a.groups]!++;
  return (seq) => perGroup[seq % a.groups]!;
}

/** Receipts so far (for the orchestrator's drain wait). */
function received(): { received: number; expected: number } {
  if (armed === null) return { received: 0, expected: 0 };
  const exp = expectedFor(armed);
  let r = 0;
  let e = 0;
  for (let s = 0; s < armed.total; s++) {
    r += seen[s]!;
    e += exp(s);
  }
  return { received: r, expected: e };
}

function report(): LatencyReport {
  const a = armed;
  if (a === null) throw new Error("not armed");
  const exp = expectedFor(a);
  let expected = 0;
  let got = 0;
  let lost = 0;
  let duplicates = 0;
  let warmupLost = 0;
  for (let s = 0; s < a.total; s++) {
    const want = exp(s);
    const n = seen[s]!;
    if (s < a.warmup) {
      if (n < want) warmupLost += want - n;
      continue;
    }
    expected += want;
    got += n;
    if (n < want) lost += want - n;
    else duplicates += n - want;
  }
  lateLog?.close();
  const cpu = process.cpuUsage();
  return {
    expected,
    received: got,
    lost,
    duplicates,
    warmupLost,
    foreign,
    histogram: hdr.encodeIntoCompressedBase64(histogram),
    closedByServer,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
}

async function closeAll(): Promise<void> {
  const closing = conns.filter((c) => !c.socket.destroyed).map((c) => new Promise<void>((r) => c.socket.once("close", () => r())));
  for (const c of conns) c.close();
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 5000))]);
  conns = [];
  closedByServer = 0;
}

serve({
  open: (a) => open(a as LatencyOpenArgs),
  arm: (a) => arm(a as ArmArgs),
  received: () => received(),
  report: () => report(),
  closeAll: () => closeAll(),
});
emit("ready", { pid: process.pid, index: args.index });

/**
 * The e2e tail against the pauses of every process on the path (`e2e-probe` with PROBE_TRACE_DIR): which late
 * deliveries had a process paused for garbage collection while they were in flight, and which had none.
 *
 * Written during the run, into the trace directory:
 * - `gc-<label>-<pid>.txt`: each Node process's GC pauses (`bench/scripts/gc-trace.mjs`, through NODE_OPTIONS);
 *   Tidings processes are labelled `tidings-…`, the bench's own (clients, producer, floor) `bench-…`;
 * - `nats-gc.txt`: nats-server's GC cycles (GODEBUG=gctrace=1), each stamped when its line arrived;
 * - `late-case<n>.txt`: from the latency client, every measured delivery later than LATE_MS of case n
 *   ("<receipt ms since the epoch> <latency ms>") and a last line "# measured <first receipt> <last receipt> <count>".
 * Go's collector stops the world only for its two short phases; a cycle's whole span (concurrent marking included,
 * which takes a quarter of the server's cores) is counted as its "pause" here, an upper bound on its effect.
 */
import { appendFileSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** Deliveries later than this are logged and attributed (the e2e target's p99). */
export const LATE_MS = 5;

/** The latency client's log of one case's late deliveries; `record` per measured delivery. */
export class LateLog {
  readonly #dir: string;
  #lines: string[] = [];
  #caseNo = -1;
  #first = 0;
  #last = 0;
  #count = 0;

  constructor(dir: string) {
    this.#dir = dir;
    setInterval(() => this.#flush(), 1000).unref();
  }

  record(caseNo: number, receiptMs: number, latencyMs: number): void {
    if (caseNo !== this.#caseNo) {
      this.#flush();
      this.#caseNo = caseNo;
      this.#first = receiptMs;
      this.#count = 0;
    }
    this.#last = receiptMs;
    this.#count++;
    if (latencyMs > LATE_MS) this.#lines.push(`${receiptMs.toFixed(2)} ${latencyMs.toFixed(3)}\n`);
  }

  /** Ends the current case's file with its measured span. */
  close(): void {
    if (this.#caseNo < 0) return;
    this.#lines.push(`# measured ${this.#first.toFixed(2)} ${this.#last.toFixed(2)} ${this.#count}\n`);
    this.#flush();
    this.#caseNo = -1;
  }

  #flush(): void {
    if (this.#lines.length === 0) return;
    appendFileSync(join(this.#dir, `late-case${this.#caseNo}.txt`), this.#lines.join(""));
    this.#lines = [];
  }
}

/** A writer for nats-server's output that keeps its `gc …` lines, stamped with the time each arrived. */
export function natsGcWriter(dir: string): (text: string) => void {
  let partial = "";
  return (text) => {
    const now = Date.now();
    const lines = (partial + text).split("\n");
    partial = lines.pop()!;
    const gc = lines.filter((l) => l.startsWith("gc ")).map((l) => `${now} ${l}\n`);
    if (gc.length > 0) appendFileSync(join(dir, "nats-gc.txt"), gc.join(""));
  };
}

export interface Pause {
  process: string;
  startMs: number;
  endMs: number;
}

export interface LateDelivery {
  sentMs: number;
  receiptMs: number;
}

export interface ProcessShare {
  process: string;
  pauses: number;
  pausedMs: number;
  longestMs: number;
  /** late deliveries with one of this process's pauses while in flight */
  late: number;
}

export interface Attribution {
  measured: number;
  late: number;
  windowMs: number;
  processes: ProcessShare[];
  /** late deliveries with no Tidings process paused while in flight */
  noTidingsPause: number;
  /** late deliveries with no traced process paused (nats-server's GC cycles included) */
  noPause: number;
}

const isTidings = (process: string) => process.startsWith("tidings-");

/**
 * Which late deliveries had a pause of each process within (send, receipt); pauses that ended before the
 * earliest send or started after the last receipt of the case are left out.
 */
export function attribute(
  late: readonly LateDelivery[],
  pauses: readonly Pause[],
  span: { first: number; last: number; count: number },
): Attribution {
  const from = late.reduce((min, d) => Math.min(min, d.sentMs), span.first);
  const byProcess = new Map<string, Pause[]>();
  for (const p of pauses) {
    if (p.endMs <= from || p.startMs >= span.last) continue;
    const list = byProcess.get(p.process);
    if (list === undefined) byProcess.set(p.process, [p]);
    else list.push(p);
  }
  const processes: ProcessShare[] = [];
  const tidingsPaused = new Uint8Array(late.length);
  const anyPaused = new Uint8Array(late.length);
  for (const [process, list] of byProcess) {
    list.sort((a, b) => a.startMs - b.startMs);
    // a pause was in flight iff, among the pauses started before the receipt, the latest end is after the send
    const starts = list.map((p) => p.startMs);
    const maxEnd: number[] = [];
    for (const p of list) maxEnd.push(Math.max(maxEnd.at(-1) ?? -Infinity, p.endMs));
    let lateCount = 0;
    late.forEach((d, i) => {
      const before = lastBelow(starts, d.receiptMs);
      if (before < 0 || maxEnd[before]! <= d.sentMs) return;
      lateCount++;
      anyPaused[i] = 1;
      if (isTidings(process)) tidingsPaused[i] = 1;
    });
    processes.push({
      process,
      pauses: list.length,
      pausedMs: list.reduce((sum, p) => sum + p.endMs - p.startMs, 0),
      longestMs: list.reduce((max, p) => Math.max(max, p.endMs - p.startMs), 0),
      late: lateCount,
    });
  }
  processes.sort((a, b) => a.process.localeCompare(b.process));
  const none = (flags: Uint8Array) => flags.reduce((n, f) => n + (f === 0 ? 1 : 0), 0);
  return {
    measured: span.count,
    late: late.length,
    windowMs: span.last - span.first,
    processes,
    noTidingsPause: none(tidingsPaused),
    noPause: none(anyPaused),
  };
}

/** The index of the last of the ascending `values` below `x`, −1 if none. */
function lastBelow(values: readonly number[], x: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < x) lo = mid + 1;
    else hi = mid;
  }
  return lo - 1;
}

/** Reads a trace directory: every case's attribution, by case number. */
export function readTrace(dir: string): Map<number, Attribution> {
  const files = readdirSync(dir);
  const pauses: Pause[] = [];
  for (const f of files) {
    const m = /^gc-(.+)-\d+\.txt$/.exec(f);
    if (m === null) continue;
    for (const line of lines(join(dir, f))) {
      const [start, duration] = line.split(" ").map(Number);
      pauses.push({ process: m[1]!, startMs: start!, endMs: start! + duration! });
    }
  }
  if (files.includes("nats-gc.txt")) {
    for (const line of lines(join(dir, "nats-gc.txt"))) {
      // "<arrival ms> gc 12 @3.456s 1%: 0.031+5.0+0.047 ms clock, …": stop + concurrent mark + stop
      const m = /^(\d+) gc \d+ @[\d.]+s \d+%: ([\d.]+)\+([\d.]+)\+([\d.]+) ms clock/.exec(line);
      if (m === null) continue;
      const end = Number(m[1]);
      pauses.push({ process: "nats-server (GC cycle)", startMs: end - Number(m[2]) - Number(m[3]) - Number(m[4]), endMs: end });
    }
  }
  const result = new Map<number, Attribution>();
  for (const f of files) {
    const m = /^late-case(\d+)\.txt$/.exec(f);
    if (m === null) continue;
    const late: LateDelivery[] = [];
    let span: { first: number; last: number; count: number } | null = null;
    for (const line of lines(join(dir, f))) {
      const parts = line.split(" ");
      if (parts[0] === "#") span = { first: Number(parts[2]), last: Number(parts[3]), count: Number(parts[4]) };
      else late.push({ receiptMs: Number(parts[0]), sentMs: Number(parts[0]) - Number(parts[1]) });
    }
    if (span !== null) result.set(Number(m[1]), attribute(late, pauses, span));
  }
  return result;
}

function lines(file: string): string[] {
  return readFileSync(file, "utf8")
    .split("\n")
    .filter((l) => l !== "");
}

const pct = (n: number, of: number) => `${((100 * n) / Math.max(1, of)).toFixed(1)}%`;

export function formatAttribution(caseNo: number, a: Attribution): string {
  const rows = a.processes.map(
    (p) =>
      `  ${p.process.padEnd(28)} ${String(p.pauses).padStart(5)} pauses, ${p.pausedMs.toFixed(0).padStart(5)} ms paused (${pct(p.pausedMs, a.windowMs)} of the case), ` +
      `longest ${p.longestMs.toFixed(1)} ms; in flight for ${p.late} late (${pct(p.late, a.late)})`,
  );
  return [
    `case ${caseNo}: ${a.late.toLocaleString("en-US")} of ${a.measured.toLocaleString("en-US")} deliveries later than ${LATE_MS} ms (${pct(a.late, a.measured)}) over ${(a.windowMs / 1000).toFixed(1)} s`,
    ...rows,
    `  no Tidings process paused while in flight: ${a.noTidingsPause.toLocaleString("en-US")} of the late (${pct(a.noTidingsPause, a.late)})`,
    `  no traced process paused (nats-server's GC cycles included): ${a.noPause.toLocaleString("en-US")} (${pct(a.noPause, a.late)})`,
  ].join("\n");
}

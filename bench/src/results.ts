/**
 * The shape of `bench/results/<name>.json`. Other benchmarks (e.g. the router's) write the same shape
 * so `summary.md` can show them; `rows` is what the summary renders, the rest is detail.
 */
import { createHash } from "node:crypto";
import { cpus, loadavg } from "node:os";

export interface Target {
  op: "<=" | ">=";
  value: number;
  /** which figure of the row the target applies to */
  on: "value" | "ratio";
}

export interface ResultRow {
  /** what is measured, e.g. "CPU per delivery" */
  metric: string;
  /** the case, e.g. "JSON, 10k connections" */
  case: string;
  unit: string;
  /** the Tidings figure (null: not measured, e.g. a failed case) */
  value: number | null;
  /** the comparator measured in the same run */
  baseline?: { name: string; value: number | null };
  /** value / baseline.value */
  ratio?: number | null;
  target?: Target;
  note?: string;
}

export interface MachineInfo {
  cpus: number;
  cpuModel: string;
  node: string;
  platform: string;
  /** 1, 5 and 15 minute load averages when the harness started and ended */
  loadBefore: number[];
  loadAfter: number[];
  /**
   * `hostProbe` samples (ms) when the harness started and ended. Absent in results written before it
   * was recorded.
   */
  hostProbeBefore?: number[];
  hostProbeAfter?: number[];
}

export interface HarnessResult {
  name: string;
  title: string;
  startedAt: string;
  finishedAt: string;
  quick: boolean;
  /** the command that produced it */
  command: string;
  machine: MachineInfo;
  params: Record<string, unknown>;
  rows: ResultRow[];
  notes: string[];
  /** per-case raw measurements */
  cases: unknown[];
}

export function machineInfo(loadBefore: number[], hostProbeBefore?: number[]): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadBefore,
    loadAfter: loadavg(),
    ...(hostProbeBefore === undefined ? {} : { hostProbeBefore, hostProbeAfter: hostProbe() }),
  };
}

const PROBE_RUNS = 5;
/** Each probe run hashes PROBE_BYTES PROBE_PASSES times (~40 ms on a quiet host of this kind). */
const PROBE_BYTES = 8 * 1024 * 1024;
const PROBE_PASSES = 6;

/**
 * How fast this host runs a fixed piece of work right now: the wall time (ms, 0.1 ms) of PROBE_RUNS
 * SHA-256 hashes of the same 48 MiB, in the order run. The load average counts this machine's own
 * runnable processes only; a host slowed by something else (other tenants of a shared machine, CPU
 * frequency) shows here as times above the quiet ones, so a reader can tell a slow run from a slow
 * change. Native code, so the time does not depend on what the JIT has optimised yet (a JavaScript loop's
 * did, 5× between runs). Taken when a harness starts and when it writes its result.
 */
export function hostProbe(): number[] {
  const bytes = new Uint8Array(PROBE_BYTES).fill(0x5a);
  const samples: number[] = [];
  for (let run = 0; run < PROBE_RUNS; run++) {
    const started = process.hrtime.bigint();
    const hash = createHash("sha256");
    for (let pass = 0; pass < PROBE_PASSES; pass++) hash.update(bytes);
    hash.digest();
    samples.push(Math.round(Number(process.hrtime.bigint() - started) / 1e5) / 10);
  }
  return samples;
}

export function isHarnessResult(value: unknown): value is HarnessResult {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<HarnessResult>;
  return typeof v.name === "string" && typeof v.title === "string" && Array.isArray(v.rows);
}

/**
 * The shape of `bench/results/<name>.json`. Other benchmarks (e.g. the router's) write the same shape
 * so `summary.md` can show them; `rows` is what the summary renders, the rest is detail.
 */
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

export function machineInfo(loadBefore: number[]): MachineInfo {
  const list = cpus();
  return {
    cpus: list.length,
    cpuModel: list[0]?.model.trim() ?? "unknown",
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadBefore,
    loadAfter: loadavg(),
  };
}

export function isHarnessResult(value: unknown): value is HarnessResult {
  if (typeof value !== "object" || value === null) return false;
  const v = value as Partial<HarnessResult>;
  return typeof v.name === "string" && typeof v.title === "string" && Array.isArray(v.rows);
}

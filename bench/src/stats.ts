/** Small, pure statistics and number formatting for benchmark results. */
import type { ResultRow, Target } from "./results.js";

export function mean(xs: readonly number[]): number {
  if (xs.length === 0) return Number.NaN;
  let sum = 0;
  for (const x of xs) sum += x;
  return sum / xs.length;
}

/** Linear-interpolated percentile (p in 0..100) of unsorted samples. */
export function percentile(xs: readonly number[], p: number): number {
  if (xs.length === 0) return Number.NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = (Math.min(100, Math.max(0, p)) / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function median(xs: readonly number[]): number {
  return percentile(xs, 50);
}

/** a / b, or null when either is missing or b is not a positive number. */
export function ratio(a: number | null | undefined, b: number | null | undefined): number | null {
  if (a === null || a === undefined || b === null || b === undefined) return null;
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return null;
  return a / b;
}

/** CPU microseconds per unit of work. */
export function cpuPer(userUs: number, systemUs: number, units: number): number | null {
  return units > 0 ? (userUs + systemUs) / units : null;
}

/** Work per second of one core, from CPU microseconds per unit of work. */
export function perCore(cpuUsPerUnit: number | null): number | null {
  return cpuUsPerUnit === null || cpuUsPerUnit <= 0 ? null : 1e6 / cpuUsPerUnit;
}

/** Rounds to `digits` significant digits (for display and for stable JSON). */
export function significant(x: number, digits = 3): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  return Number(x.toPrecision(digits));
}

/** 1234567 → "1,234,567"; keeps up to `decimals` decimals for small numbers. */
export function formatNumber(x: number | null | undefined, decimals = 0): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  return x.toLocaleString("en-US", { maximumFractionDigits: decimals, minimumFractionDigits: 0 });
}

/** A figure with its unit, three significant digits below 1000, grouped integers above. */
export function formatValue(x: number | null | undefined, unit: string): string {
  if (x === null || x === undefined || !Number.isFinite(x)) return "–";
  const text = Math.abs(x) >= 1000 ? formatNumber(Math.round(x)) : formatNumber(significant(x, 3), 6);
  return unit === "" ? text : `${text} ${unit}`;
}

export function formatBytes(bytes: number | null | undefined): string {
  if (bytes === null || bytes === undefined || !Number.isFinite(bytes)) return "–";
  const abs = Math.abs(bytes);
  if (abs >= 1024 * 1024) return `${formatNumber(significant(bytes / (1024 * 1024), 3), 2)} MiB`;
  if (abs >= 1024) return `${formatNumber(significant(bytes / 1024, 3), 2)} KiB`;
  return `${formatNumber(Math.round(bytes))} B`;
}

export function formatRatio(r: number | null | undefined): string {
  return r === null || r === undefined || !Number.isFinite(r) ? "–" : `${r.toFixed(2)}×`;
}

/** 1000 → "1k", 20000 → "20k", 19950 → "19,950". */
export function formatCount(n: number): string {
  return n >= 1000 && n % 1000 === 0 ? `${n / 1000}k` : formatNumber(n);
}

export function describeTarget(t: Target, unit: string): string {
  return t.on === "ratio" ? `${t.op} ${t.value}×` : `${t.op} ${formatValue(t.value, unit)}`;
}

/** Whether the row meets its target: null when it has none or the figure is missing. */
export function targetMet(row: ResultRow): boolean | null {
  const t = row.target;
  if (t === undefined) return null;
  const x = t.on === "ratio" ? row.ratio : row.value;
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  return t.op === "<=" ? x <= t.value : x >= t.value;
}

import { describe, expect, it } from "vitest";
import type { ResultRow } from "./results.js";
import {
  cpuPer,
  describeTarget,
  formatBytes,
  formatCount,
  formatRatio,
  formatValue,
  mean,
  median,
  perCore,
  percentile,
  ratio,
  significant,
  targetMet,
} from "./stats.js";

describe("stats", () => {
  it("mean, median and percentiles of unsorted samples", () => {
    expect(mean([1, 2, 3, 6])).toBe(3);
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(percentile([10, 20, 30, 40, 50], 0)).toBe(10);
    expect(percentile([10, 20, 30, 40, 50], 100)).toBe(50);
    expect(percentile([10, 20, 30, 40, 50], 90)).toBeCloseTo(46);
    expect(Number.isNaN(mean([]))).toBe(true);
    expect(Number.isNaN(percentile([], 50))).toBe(true);
  });

  it("does not sort the caller's array", () => {
    const xs = [3, 1, 2];
    median(xs);
    expect(xs).toEqual([3, 1, 2]);
  });

  it("ratio is null unless both figures exist and the baseline is positive", () => {
    expect(ratio(3, 2)).toBe(1.5);
    expect(ratio(null, 2)).toBeNull();
    expect(ratio(2, null)).toBeNull();
    expect(ratio(2, 0)).toBeNull();
    expect(ratio(Number.NaN, 1)).toBeNull();
  });

  it("CPU per unit and per-core capacity", () => {
    expect(cpuPer(300, 700, 2000)).toBe(0.5);
    expect(cpuPer(1, 1, 0)).toBeNull();
    expect(perCore(0.5)).toBe(2_000_000);
    expect(perCore(null)).toBeNull();
    expect(perCore(0)).toBeNull();
  });

  it("significant digits", () => {
    expect(significant(0.123456, 3)).toBe(0.123);
    expect(significant(123456, 2)).toBe(120000);
    expect(significant(-0.0004567, 2)).toBe(-0.00046);
    expect(significant(0)).toBe(0);
  });
});

describe("formatting", () => {
  it("values with units", () => {
    expect(formatValue(0.41963, "µs")).toBe("0.42 µs");
    expect(formatValue(2383461.3, "/s")).toBe("2,383,461 /s");
    expect(formatValue(3243, "B")).toBe("3,243 B");
    expect(formatValue(0, "")).toBe("0");
    expect(formatValue(null, "µs")).toBe("–");
    expect(formatValue(Number.POSITIVE_INFINITY, "µs")).toBe("–");
  });

  it("bytes, ratios and counts", () => {
    expect(formatBytes(512)).toBe("512 B");
    expect(formatBytes(3243)).toBe("3.17 KiB");
    expect(formatBytes(5 * 1024 * 1024)).toBe("5 MiB");
    expect(formatRatio(1.2345)).toBe("1.23×");
    expect(formatRatio(null)).toBe("–");
    expect(formatCount(1000)).toBe("1k");
    expect(formatCount(10_000)).toBe("10k");
    expect(formatCount(19_907)).toBe("19,907");
  });
});

describe("targets", () => {
  const row = (over: Partial<ResultRow>): ResultRow => ({ metric: "m", case: "c", unit: "µs", value: 1, ...over });

  it("checks the figure the target names", () => {
    expect(targetMet(row({ ratio: 1.2, target: { op: "<=", value: 1.3, on: "ratio" } }))).toBe(true);
    expect(targetMet(row({ ratio: 1.4, target: { op: "<=", value: 1.3, on: "ratio" } }))).toBe(false);
    expect(targetMet(row({ value: 300_000, target: { op: ">=", value: 250_000, on: "value" } }))).toBe(true);
    expect(targetMet(row({ value: 0, unit: "", target: { op: "<=", value: 0, on: "value" } }))).toBe(true);
  });

  it("is undecided without a target or a figure", () => {
    expect(targetMet(row({}))).toBeNull();
    expect(targetMet(row({ value: null, target: { op: ">=", value: 1, on: "value" } }))).toBeNull();
    expect(targetMet(row({ ratio: null, target: { op: "<=", value: 1, on: "ratio" } }))).toBeNull();
  });

  it("describes targets", () => {
    expect(describeTarget({ op: "<=", value: 1.3, on: "ratio" }, "µs")).toBe("<= 1.3×");
    expect(describeTarget({ op: ">=", value: 250_000, on: "value" }, "/s")).toBe(">= 250,000 /s");
  });
});

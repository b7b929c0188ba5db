import { describe, expect, it } from "vitest";
import type { HarnessResult } from "./results.js";
import { cell, demoteHeadings, markdownTable, numericLeaves, renderResult, renderSummary, rowCells } from "./summary.js";

function result(over: Partial<HarnessResult> = {}): HarnessResult {
  return {
    name: "fanout-cpu",
    title: "Fan-out CPU",
    startedAt: "2025-01-01T00:00:00.000Z",
    finishedAt: "2025-01-01T00:01:00.000Z",
    quick: false,
    command: "pnpm bench",
    machine: {
      cpus: 2,
      cpuModel: "Test CPU",
      node: "v20.0.0",
      platform: "linux-x64",
      loadBefore: [0.5, 0.4, 0.3],
      loadAfter: [1, 0.5, 0.3],
    },
    params: {},
    rows: [
      {
        metric: "CPU per delivery",
        case: "JSON, 1k connections",
        unit: "µs",
        value: 0.5,
        baseline: { name: "bare uWS", value: 0.4 },
        ratio: 1.25,
        target: { op: "<=", value: 1.3, on: "ratio" },
      },
      { metric: "Deliveries lost", case: "JSON, 1k connections", unit: "", value: 3, target: { op: "<=", value: 0, on: "value" } },
    ],
    notes: ["a note"],
    cases: [],
    ...over,
  };
}

describe("markdown", () => {
  it("escapes pipes and newlines in cells", () => {
    expect(cell("a|b\nc")).toBe("a\\|b c");
  });

  it("renders a table with a separator row", () => {
    expect(markdownTable(["A", "B"], [["1", "2"]])).toBe("| A | B |\n|---|---|\n| 1 | 2 |");
  });

  it("renders a row with baseline, ratio, target and verdict", () => {
    expect(rowCells(result().rows[0]!)).toEqual([
      "CPU per delivery",
      "JSON, 1k connections",
      "0.5 µs",
      "0.4 µs (bare uWS)",
      "1.25×",
      "<= 1.3×",
      "yes",
    ]);
    expect(rowCells(result().rows[1]!)).toEqual(["Deliveries lost", "JSON, 1k connections", "3", "", "", "<= 0", "**no**"]);
  });

  it("renders a harness section with machine, load, command and notes", () => {
    const text = renderResult(result({ quick: true }));
    expect(text).toContain("## Fan-out CPU (`fanout-cpu`)");
    expect(text).toContain("**quick** sizes");
    expect(text).toContain("0.50 / 0.40 / 0.30 before, 1.00 / 0.50 / 0.30 after");
    expect(text).toContain("Command: `pnpm bench`");
    expect(text).toContain("- a note");
    expect(text).not.toContain("host probe");
  });

  it("renders the host probe's range before and after when the result has it", () => {
    const base = result();
    const text = renderResult(result({ machine: { ...base.machine, hostProbeBefore: [41.2, 39.8, 40], hostProbeAfter: [40.1, 122.5] } }));
    expect(text).toContain("; host probe (SHA-256 of 48 MiB, 5 runs) 39.8–41.2 ms before, 40.1–122.5 ms after. Command:");
  });

  it("renders the summary with foreign and missing results", () => {
    const text = renderSummary({
      results: [result()],
      foreign: [{ name: "Router (results/router.json)", value: { throughput: { perSecond: 123456.789 }, keys: 1000000, label: "x" } }],
      missing: [{ name: "e2e-latency", title: "Latency", why: "needs NATS" }],
    });
    expect(text.startsWith("# Tidings benchmark summary\n")).toBe(true);
    expect(text).toContain("`throughput.perSecond = 123,456.789`");
    expect(text).toContain("`keys = 1,000,000`");
    expect(text).toContain("| `e2e-latency` | Latency | needs NATS |");
    expect(text.endsWith("\n")).toBe(true);
  });

  it("nests a foreign markdown report under its section", () => {
    const text = renderSummary({
      results: [],
      foreign: [{ name: "Router", value: {}, markdown: "# Router bench\n\n## Detail\n| a |", target: ">= 100k/s" }],
    });
    expect(text).toContain("## Router\n\nTarget: >= 100k/s.\n\n### Router bench\n\n#### Detail");
    expect(demoteHeadings("# A\ntext # not a heading\n###### deep")).toBe("### A\ntext # not a heading\n###### deep");
  });

  it("lists numeric leaves of nested values, bounded", () => {
    expect(numericLeaves({ a: 1, b: [2, { c: 3 }], d: "x" })).toEqual(["a = 1", "b[0] = 2", "b[1].c = 3"]);
    expect(numericLeaves(Array.from({ length: 100 }, (_, i) => i)).length).toBe(40);
  });
});

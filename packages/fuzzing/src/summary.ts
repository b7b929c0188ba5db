import { readFileSync, rmSync } from "node:fs";
import type { FuzzOutcome } from "./index.js";

/*
 * `pnpm fuzz`'s last step: the figures every target appended to TIDINGS_FUZZ_REPORT during the run,
 * as one table with totals. A target that failed appended nothing and already failed the run.
 */
const file = process.argv[2];
if (file === undefined) throw new Error("usage: summary.ts <report.jsonl>");
const outcomes = readFileSync(file, "utf8")
  .split("\n")
  .filter((line) => line !== "")
  .map((line) => JSON.parse(line) as FuzzOutcome);
rmSync(file);

const inputs = outcomes.reduce((sum, o) => sum + o.inputs, 0);
const seconds = outcomes.reduce((sum, o) => sum + o.seconds, 0);
const rows = outcomes.map(
  (o) => `| ${o.target} | ${o.inputs.toLocaleString("en-US")} | ${o.inputsPerSecond.toLocaleString("en-US")} | ${o.slowestMs} |`,
);
console.log(["", "| Target | Inputs | Inputs/s | Slowest input (ms) |", "|---|---:|---:|---:|", ...rows].join("\n"));
console.log(
  `\n${inputs.toLocaleString("en-US")} generated inputs over ${outcomes.length} targets in ${seconds.toFixed(0)} s: 0 crashes, 0 hangs.`,
);

/**
 * Pairs the harness results of a Node 20 run and a Node 24 run of the same `pnpm bench` options row by
 * row and writes `<out>.json` and `<out>.md` (bench/node24-vs-node20.sh runs it).
 *   tsx src/node-compare.ts <node20 results dir> <node24 results dir> <out path without extension> <command>
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { isHarnessResult, type HarnessResult } from "./results.js";

const [dir20, dir24, out, command] = process.argv.slice(2);
if (dir20 === undefined || dir24 === undefined || out === undefined || command === undefined) {
  throw new Error("usage: tsx src/node-compare.ts <node20 dir> <node24 dir> <out> <command>");
}

function load(dir: string): Map<string, HarnessResult> {
  const byName = new Map<string, HarnessResult>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".json"))) {
    const value: unknown = JSON.parse(readFileSync(join(dir, file), "utf8"));
    if (isHarnessResult(value)) byName.set(value.name, value);
  }
  return byName;
}

const node20 = load(dir20);
const node24 = load(dir24);
const rows: { harness: string; metric: string; case: string; unit: string; node20: number; node24: number; ratio: number }[] = [];
const missing: string[] = [];
for (const [name, r20] of node20) {
  const r24 = node24.get(name);
  if (r24 === undefined) {
    missing.push(`${name}: no Node 24 result`);
    continue;
  }
  const seen = new Set<string>();
  for (const row of r20.rows) {
    const key = `${row.metric}|${row.case}`;
    if (seen.has(key)) continue; // the same gateway value repeated against another baseline
    seen.add(key);
    const other = r24.rows.find((x) => x.metric === row.metric && x.case === row.case);
    if (other === undefined || other.value === null || row.value === null) continue;
    rows.push({
      harness: name,
      metric: row.metric,
      case: row.case,
      unit: row.unit,
      node20: row.value,
      node24: other.value,
      ratio: other.value / row.value,
    });
  }
}
for (const name of node24.keys()) if (!node20.has(name)) missing.push(`${name}: no Node 20 result`);

const runs = (m: Map<string, HarnessResult>) =>
  [...m.values()].map((r) => ({
    harness: r.name,
    node: r.machine.node,
    loadBefore: r.machine.loadBefore,
    loadAfter: r.machine.loadAfter,
    startedAt: r.startedAt,
  }));
const result = {
  name: "node24-vs-node20",
  command,
  note: "Both runs back to back on one machine. The Node 24 run uses uWebSockets.js v20.57.0 (the image's build), the Node 20 run the workspace's v20.30.0; the bare-uWS baselines differ the same way. Values are the gateway's own (the harness's first row per metric and case).",
  runs: { node20: runs(node20), node24: runs(node24) },
  rows,
  missing,
};
writeFileSync(`${out}.json`, `${JSON.stringify(result, null, 2)}\n`);

const fmt = (v: number) => (Math.abs(v) >= 100 ? Math.round(v).toLocaleString("en-US") : v.toPrecision(3));
const loadAvg = (l: readonly number[]) => l.map((x) => x.toFixed(1)).join(" / ");
const lines = [
  `Command: \`${command}\` (bench/node24-vs-node20.sh), Node 20 then Node 24.`,
  "",
  `Load average (1/5/15 min) before each harness: ${[...result.runs.node20, ...result.runs.node24].map((r) => `${r.node} ${r.harness}: ${loadAvg(r.loadBefore)}`).join("; ")}.`,
  "",
  result.note,
  "",
  "| Harness | Metric | Case | Node 20 | Node 24 | Node 24 / Node 20 |",
  "|---|---|---|---|---|---|",
  ...rows.map(
    (r) => `| ${r.harness} | ${r.metric} | ${r.case} | ${fmt(r.node20)} ${r.unit} | ${fmt(r.node24)} ${r.unit} | ${r.ratio.toFixed(2)}× |`,
  ),
  ...(missing.length > 0 ? ["", `Missing: ${missing.join("; ")}.`] : []),
  "",
];
writeFileSync(`${out}.md`, lines.join("\n"));
console.log(lines.join("\n"));

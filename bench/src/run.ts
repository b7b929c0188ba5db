/**
 * `pnpm bench [--quick] [--only <name>[,<name>…]] [--reps <n>] [--profile]`
 *
 * Runs the harnesses of registry.ts one after another, each server and client in its own process,
 * writes `bench/results/<name>.json` and regenerates `bench/results/summary.md` from every result
 * file present.
 */
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { loadavg } from "node:os";
import { RunContext, type Harness, type RunOptions } from "./harness/context.js";
import { HARNESSES, findHarness } from "./harness/registry.js";
import { killAllChildren } from "./proc.js";
import { isHarnessResult, type HarnessResult } from "./results.js";
import { renderSummary, type ForeignResult, type MissingHarness } from "./summary.js";
import { parseCli, usage } from "./cli.js";

const RESULTS_DIR = fileURLToPath(new URL("../results", import.meta.url));

function readResults(): { results: Map<string, HarnessResult>; foreign: ForeignResult[] } {
  const results = new Map<string, HarnessResult>();
  const foreign: ForeignResult[] = [];
  if (!existsSync(RESULTS_DIR)) return { results, foreign };
  for (const file of readdirSync(RESULTS_DIR)
    .filter((f) => f.endsWith(".json"))
    .sort()) {
    const name = file.slice(0, -5);
    let value: unknown;
    try {
      value = JSON.parse(readFileSync(join(RESULTS_DIR, file), "utf8"));
    } catch {
      foreign.push({ name: `${name} (results/${file}: not valid JSON)`, value: null });
      continue;
    }
    if (isHarnessResult(value)) results.set(value.name, value);
    else {
      const h = findHarness(name);
      const mdFile = join(RESULTS_DIR, `${name}.md`);
      foreign.push({
        name: `${h?.title ?? name} (results/${file})`,
        value,
        ...(existsSync(mdFile) ? { markdown: readFileSync(mdFile, "utf8") } : {}),
        ...(h?.target === undefined ? {} : { target: h.target }),
      });
    }
  }
  return { results, foreign };
}

function writeSummary(failures: Map<string, string>): string {
  const { results, foreign } = readResults();
  const ordered: HarnessResult[] = [];
  const missing: MissingHarness[] = [];
  for (const h of HARNESSES) {
    const r = results.get(h.name);
    if (r !== undefined) ordered.push(r);
    else if (foreign.some((f) => f.name.includes(`results/${h.name}.json`))) continue;
    else
      missing.push({
        name: h.name,
        title: h.title,
        why: failures.get(h.name) ?? h.unavailable ?? (h.external !== undefined ? `not run: ${h.external}` : "not run yet"),
      });
  }
  for (const [name, r] of results) if (findHarness(name) === undefined) ordered.push(r);
  const text = renderSummary({ results: ordered, missing, foreign });
  writeFileSync(join(RESULTS_DIR, "summary.md"), text);
  return text;
}

async function main(): Promise<void> {
  const cli = parseCli(process.argv.slice(2));
  mkdirSync(RESULTS_DIR, { recursive: true });
  const failures = new Map<string, string>();
  if (!cli.summaryOnly) {
    const selected: Harness[] = cli.only === null ? [...HARNESSES] : cli.only.map((n) => findHarness(n) ?? usage());
    const opts: RunOptions = {
      quick: cli.quick,
      profile: cli.profile,
      reps: cli.reps ?? (cli.quick ? 1 : 3),
      resultsDir: RESULTS_DIR,
      command: ["pnpm bench", ...process.argv.slice(2).filter((a) => a !== "--")].join(" "),
    };
    const ctx = new RunContext(opts);
    ctx.log(
      `load average ${loadavg()
        .map((x) => x.toFixed(2))
        .join(" / ")}; ${opts.quick ? "quick sizes" : "full sizes"}, ${opts.reps} rep(s)`,
    );
    for (const h of selected) {
      if (h.run === undefined) {
        ctx.log(`${h.name}: skipped (${h.unavailable ?? h.external ?? "nothing to run"})`);
        continue;
      }
      ctx.log(`${h.name}: ${h.title}`);
      try {
        ctx.beginHarness();
        const result = await h.run(ctx);
        writeFileSync(join(RESULTS_DIR, `${h.name}.json`), `${JSON.stringify(result, null, 2)}\n`);
        ctx.log(`${h.name}: wrote results/${h.name}.json`);
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        failures.set(h.name, `failed in the last run: ${message}`);
        ctx.log(`${h.name}: FAILED: ${err instanceof Error ? (err.stack ?? message) : message}`);
        killAllChildren();
      }
    }
  }
  process.stdout.write(writeSummary(failures));
  if (failures.size > 0) process.exitCode = 1;
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    killAllChildren();
    process.exit(130);
  });
}

main().catch((err: unknown) => {
  killAllChildren();
  process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

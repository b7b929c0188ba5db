/**
 * `tsx src/profile-report.ts <profile dir or .cpuprofile> [--top N] [--all]`: where a server's CPU
 * went, as self and inclusive time per function (file:function:line). Given a directory written by
 * `pnpm bench --profile`, it reads the main thread's profile and the server's `windows.json` (its
 * measurement windows); only samples inside those windows count unless `--all` is given.
 */
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { aggregateProfile, type CpuProfile } from "./profile.js";

function mainThreadProfile(path: string): string {
  if (!statSync(path).isDirectory()) return path;
  const main = readdirSync(path).find((f) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  if (main === undefined) throw new Error(`no main-thread profile (CPU.*.<pid>.0.*.cpuprofile) in ${path}`);
  return join(path, main);
}

function main(): void {
  const argv = process.argv.slice(2).filter((a) => a !== "--");
  const topIndex = argv.indexOf("--top");
  const top = topIndex === -1 ? 25 : Number(argv[topIndex + 1]);
  const target = argv.find((a, i) => !a.startsWith("--") && i !== topIndex + 1);
  if (target === undefined) {
    process.stderr.write("usage: tsx src/profile-report.ts <profile dir | file.cpuprofile> [--top N] [--all]\n");
    process.exit(2);
  }
  const file = mainThreadProfile(target);
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const windowsFile = join(dirname(file), "windows.json");
  const windows =
    !argv.includes("--all") && existsSync(windowsFile) ? (JSON.parse(readFileSync(windowsFile, "utf8")) as Array<[number, number]>) : null;
  const report = aggregateProfile(profile, windows);
  const pct = (us: number) => `${((100 * us) / Math.max(1, report.totalUs)).toFixed(1).padStart(5)}%`;
  const ms = (us: number) => `${(us / 1000).toFixed(1).padStart(8)} ms`;
  const lines = [
    `${file}: ${ms(report.totalUs)} sampled${windows === null ? " (whole run)" : ` in ${windows.length} measurement window(s)`}`,
    "",
    "self time",
  ];
  for (const f of report.self.slice(0, top)) lines.push(`${ms(f.us)} ${pct(f.us)}  ${f.key}`);
  lines.push("", "inclusive time");
  for (const f of report.inclusive.slice(0, top)) lines.push(`${ms(f.us)} ${pct(f.us)}  ${f.key}`);
  process.stdout.write(`${lines.join("\n")}\n`);
}

main();

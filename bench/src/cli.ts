/** Command line of `pnpm bench`. */
import { HARNESSES } from "./harness/registry.js";

export interface Cli {
  quick: boolean;
  only: string[] | null;
  reps: number | null;
  profile: boolean;
  summaryOnly: boolean;
}

export function usage(): never {
  process.stderr.write(
    "usage: pnpm bench [--quick] [--only <name>[,<name>...]] [--reps <n>] [--profile] [--summary]\n" +
      `harnesses: ${HARNESSES.map((h) => h.name).join(", ")}\n`,
  );
  process.exit(2);
}

export function parseCli(argv: readonly string[]): Cli {
  const cli: Cli = { quick: false, only: null, reps: null, profile: false, summaryOnly: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const value = () => argv[++i] ?? usage();
    if (a === "--") continue;
    else if (a === "--quick") cli.quick = true;
    else if (a === "--profile") cli.profile = true;
    else if (a === "--summary") cli.summaryOnly = true;
    else if (a === "--only")
      cli.only = [
        ...(cli.only ?? []),
        ...value()
          .split(",")
          .filter((s) => s !== ""),
      ];
    else if (a.startsWith("--only="))
      cli.only = [
        ...(cli.only ?? []),
        ...a
          .slice(7)
          .split(",")
          .filter((s) => s !== ""),
      ];
    else if (a === "--reps") cli.reps = Number(value());
    else if (a === "--help" || a === "-h") usage();
    else {
      process.stderr.write(`unknown argument ${a}\n`);
      usage();
    }
  }
  if (cli.reps !== null && (!Number.isInteger(cli.reps) || cli.reps < 1)) usage();
  return cli;
}

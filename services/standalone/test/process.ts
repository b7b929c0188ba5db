import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@tidings/testkit";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsxCli = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));

export interface TidingsProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly url: string;
  readonly port: number;
  readonly exited: Promise<number | null>;
  output(): string;
  /** SIGTERM and wait for the exit code */
  stop(): Promise<number | null>;
}

/** SIGKILLs a `cli: true` process with the node behind it (its whole group); a no-op once it is gone. */
export function killGroup(child: ChildProcessWithoutNullStreams): void {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch {
    // already gone
  }
}

export const freshDataDir = () => mkdtempSync(join(tmpdir(), "tidings-data-"));

/**
 * Starts `src/main.ts --dev` with only the given TIDINGS_* settings. By default as ONE process
 * (`node --import tsx`), so SIGKILL really kills the node; `cli: true` runs exactly what `pnpm start`
 * runs (the tsx CLI, which relays signals to its child), in a process group of its own so that
 * `process.kill(-child.pid, "SIGKILL")` ends the node behind the CLI too (SIGKILL cannot be relayed).
 */
export function spawnTidings(
  env: Record<string, string>,
  opts: { cli?: boolean } = {},
): { child: ChildProcessWithoutNullStreams; exited: Promise<number | null>; output: () => string } {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TIDINGS_")));
  const [command, args] =
    opts.cli === true
      ? [tsxCli, ["--single-threaded-gc", "src/main.ts", "--dev"]]
      : [process.execPath, ["--import", "tsx", "src/main.ts", "--dev"]];
  const child = spawn(command, args, {
    cwd: root,
    env: { ...clean, TIDINGS_DATA_DIR: freshDataDir(), ...env },
    detached: opts.cli === true,
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

/** Starts Tidings on free ports and waits up to `timeoutMs` until it logs `readyLine` (a gateway: "listening"). */
export async function startTidings(env: Record<string, string> = {}, readyLine = "listening", timeoutMs = 30_000): Promise<TidingsProcess> {
  const port = await freePort();
  const proc = spawnTidings({
    TIDINGS_PORT: String(port),
    TIDINGS_HOST: "127.0.0.1",
    TIDINGS_METRICS_PORT: "0",
    TIDINGS_DRAIN_SECONDS: "0.5",
    ...env,
  });
  await waitFor(() => proc.output().includes(readyLine) || proc.child.exitCode !== null, timeoutMs, `the log line '${readyLine}'`);
  if (proc.child.exitCode !== null) throw new Error(`tidings exited early:\n${proc.output()}`);
  return {
    ...proc,
    url: `http://127.0.0.1:${port}`,
    port,
    async stop() {
      if (proc.child.exitCode === null) proc.child.kill("SIGTERM");
      return proc.exited;
    },
  };
}

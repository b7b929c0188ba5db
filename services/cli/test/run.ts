import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, waitFor } from "@tidings/testkit";

const cliRoot = fileURLToPath(new URL("..", import.meta.url));
const standaloneRoot = fileURLToPath(new URL("../../standalone", import.meta.url));

/** The environment without any TIDINGS_* setting of the machine running the tests. */
export function cleanEnv(extra: Record<string, string> = {}): Record<string, string> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k, v]) => !k.startsWith("TIDINGS_") && v !== undefined)) as Record<
    string,
    string
  >;
  return { ...env, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface CliRun {
  readonly stdout: () => string;
  readonly stderr: () => string;
  readonly done: Promise<CliResult>;
  kill(signal?: NodeJS.Signals): void;
}

/** Starts `tidings <args>`: src/main.ts through tsx, or the given bundle. */
export function startCli(args: string[], opts: { env?: Record<string, string>; input?: string | Buffer; bundle?: string } = {}): CliRun {
  const command = opts.bundle === undefined ? ["--import", "tsx", "src/main.ts", ...args] : [opts.bundle, ...args];
  const child = spawn(process.execPath, command, { cwd: opts.bundle === undefined ? cliRoot : tmpdir(), env: cleanEnv(opts.env) });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  if (opts.input !== undefined) child.stdin.end(opts.input);
  else child.stdin.end();
  const done = new Promise<CliResult>((resolve) => child.once("close", (code) => resolve({ code, stdout, stderr })));
  return { stdout: () => stdout, stderr: () => stderr, done, kill: (signal = "SIGTERM") => child.kill(signal) };
}

export function cli(
  args: string[],
  opts: { env?: Record<string, string>; input?: string | Buffer; bundle?: string } = {},
): Promise<CliResult> {
  return startCli(args, opts).done;
}

export interface Tidings {
  url: string;
  stop(): Promise<void>;
}

/** Starts what `pnpm start` runs (services/standalone, `--dev`) on a free port, with the given settings. */
export async function startTidings(env: Record<string, string>): Promise<Tidings> {
  const port = await freePort();
  const child = spawn(process.execPath, ["--import", "tsx", "src/main.ts", "--dev"], {
    cwd: standaloneRoot,
    env: cleanEnv({
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_METRICS_PORT: "0",
      TIDINGS_DRAIN_SECONDS: "0.5",
      TIDINGS_DATA_DIR: mkdtempSync(join(tmpdir(), "tidings-cli-data-")),
      ...env,
    }),
  });
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  // Generous: the embedded Postgres takes long to start on a loaded machine.
  await waitFor(() => output.includes("listening") || child.exitCode !== null, 150_000, "tidings to listen");
  if (child.exitCode !== null) throw new Error(`tidings exited early:\n${output}`);
  return {
    url: `http://127.0.0.1:${port}`,
    async stop() {
      if (child.exitCode === null) child.kill("SIGTERM");
      await exited;
    },
  };
}

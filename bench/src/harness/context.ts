/** What every harness gets from the orchestrator: options, child process helpers, address pool. */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { loadavg } from "node:os";
import { AddressPool, split } from "../addresses.js";
import type { ClientArgs, OpenArgs, OpenResult, Report } from "../client/main.js";
import type { Dialect } from "../client/frames.js";
import { Child } from "../proc.js";
import { hostProbe, machineInfo, type HarnessResult, type ResultRow } from "../results.js";
import type { ServerArgs } from "../server/main.js";

/** HS256 secret of every bench server and client (≥ 32 characters, as the gateway requires). */
export const BENCH_SECRET = "tidings-bench-secret-0123456789-abcdefghij";

/** Most sockets one client process holds (the fd limit per process is ~20,000). */
export const MAX_SOCKETS_PER_CLIENT = 15_000;

export interface RunOptions {
  quick: boolean;
  /** write a V8 CPU profile of every server process (results/profiles/) */
  profile: boolean;
  /** repetitions of each fan-out case; the median run is reported */
  reps: number;
  resultsDir: string;
  command: string;
}

export interface Harness {
  name: string;
  title: string;
  /** set when the harness cannot run in this build; shown in the summary instead of numbers */
  unavailable?: string;
  /** set for results written by another program (the summary includes the file when it exists) */
  external?: string;
  /** the harness's target, for harnesses whose result rows cannot carry it (external ones) */
  target?: string;
  run?(ctx: RunContext): Promise<HarnessResult>;
}

export interface ServerHandle {
  child: Child;
  port: number;
  label: string;
}

export class RunContext {
  readonly addresses = new AddressPool();
  /** measurements shared between harnesses of one run (e.g. fan-out cases reused by `peers`) */
  readonly cache = new Map<string, unknown>();
  #profileSeq = 0;
  /** `hostProbe` samples taken when the current harness started (`beginHarness`). */
  #hostProbeBefore: number[] | undefined;

  constructor(readonly opts: RunOptions) {}

  /** Called by the runner before each harness: samples the host's speed for its result. */
  beginHarness(): void {
    this.#hostProbeBefore = hostProbe();
  }

  log(message: string): void {
    process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
  }

  async startServer(label: string, args: ServerArgs): Promise<ServerHandle> {
    const flags = ["--expose-gc"];
    if (this.opts.profile) {
      // one directory per server: Node writes a profile per thread (the tsx loader runs in a worker);
      // the main thread's is CPU.<date>.<pid>.0.<seq>.cpuprofile
      const dir = join(this.opts.resultsDir, "profiles", `${String(++this.#profileSeq).padStart(2, "0")}-${label}`);
      mkdirSync(dir, { recursive: true });
      flags.push("--cpu-prof", `--cpu-prof-dir=${dir}`, "--cpu-prof-interval=200");
      args = { ...args, profileWindowsFile: join(dir, "windows.json") };
    }
    const child = await Child.start(`server ${label}`, new URL("../server/main.ts", import.meta.url), args, { nodeFlags: flags });
    const { port } = child.readyData as { port: number };
    this.log(`${label}: server pid ${child.pid}, port ${port}`);
    return { child, port, label };
  }

  async startClients(count: number, port: number): Promise<Child[]> {
    return Promise.all(
      Array.from({ length: count }, (_, index) =>
        Child.start(`client ${index}`, new URL("../client/main.ts", import.meta.url), { index, port } satisfies ClientArgs),
      ),
    );
  }

  /**
   * Opens `total` connections spread evenly over `clients`, each client process on fresh source
   * addresses. Fails when any connection could not be opened.
   */
  async openConnections(clients: Child[], total: number, open: Omit<OpenArgs, "count" | "addrs">): Promise<OpenResult> {
    const shares = split(total, clients.length);
    const results = await Promise.all(
      clients.map((c, i) => {
        const count = shares[i]!;
        // one address per 10,000 sockets, at least two: well inside the ~28k ports of one address
        const addrs = this.addresses.takeMany(Math.max(2, Math.ceil(count / 10_000)));
        return c.call<OpenResult>("open", { ...open, count, addrs } satisfies OpenArgs);
      }),
    );
    const merged: OpenResult = {
      opened: results.reduce((s, r) => s + r.opened, 0),
      failed: results.reduce((s, r) => s + r.failed, 0),
      errors: [...new Set(results.flatMap((r) => r.errors))],
      retried: results.reduce((s, r) => s + r.retried, 0),
      ms: Math.max(...results.map((r) => r.ms)),
    };
    if (merged.failed > 0) throw new Error(`${merged.failed} of ${total} connections failed: ${merged.errors.join("; ")}`);
    return merged;
  }

  async reports(clients: Child[]): Promise<Report[]> {
    return Promise.all(clients.map((c) => c.call<Report>("report")));
  }

  /** Stops the server first (so client sockets see a close, not a TIME_WAIT on their side), then the clients. */
  async teardown(server: ServerHandle | null, clients: Child[]): Promise<void> {
    if (server !== null) await server.child.stop();
    await Promise.all(clients.map((c) => c.stop()));
  }

  result(
    name: string,
    title: string,
    startedAt: Date,
    loadBefore: number[],
    fields: { params: Record<string, unknown>; rows: ResultRow[]; notes: string[]; cases: unknown[] },
  ): HarnessResult {
    return {
      name,
      title,
      startedAt: startedAt.toISOString(),
      finishedAt: new Date().toISOString(),
      quick: this.opts.quick,
      command: this.opts.command,
      machine: machineInfo(loadBefore, this.#hostProbeBefore),
      ...fields,
    };
  }
}

export function dialectOf(protocol: "json" | "msgpack"): Dialect {
  return protocol === "json" ? "signalr-json" : "signalr-msgpack";
}

export function currentLoad(): number[] {
  return loadavg();
}

export function clientProcessesFor(connections: number, atLeast = 1): number {
  return Math.max(atLeast, Math.ceil(connections / MAX_SOCKETS_PER_CLIENT));
}

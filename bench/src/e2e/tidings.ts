/**
 * Real Tidings processes for the end-to-end harness, started exactly as `pnpm start` would run them
 * (`node --single-threaded-gc --import tsx src/main.ts` in services/standalone, configured only by TIDINGS_* variables),
 * plus a real nats-server with JetStream. Orchestrator side only.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, startNats, type NatsServer, type NatsServerOptions } from "@tidings/testkit";

const STANDALONE_DIR = fileURLToPath(new URL("../../../services/standalone", import.meta.url));
/** The `node` flags every Tidings process runs with: the image's CMD and `pnpm start` give the same (docs/runtime.md). */
const TIDINGS_NODE_FLAGS = ["--single-threaded-gc"];
const OUTPUT_TAIL_CHARS = 20_000;

export interface TidingsProcess {
  readonly label: string;
  readonly pid: number;
  /** HTTP / hub port (0 for roles without one) */
  readonly port: number;
  output(): string;
  /** SIGTERM, then SIGKILL after `graceMs` */
  stop(graceMs?: number): Promise<void>;
}

const LIVE = new Set<ChildProcess>();
/** Kills every Tidings process still running (abnormal exit of the orchestrator). */
export function killAllTidings(): void {
  for (const c of LIVE) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
}
process.once("exit", killAllTidings);

/**
 * Starts one Tidings process with the given TIDINGS_* settings (nothing else of the parent's
 * TIDINGS_* environment) and resolves once its output contains `readyLine`. The line must be the
 * process's own: Node prints "Debugger listening on …" under `--inspect` before the app listens.
 */
export async function startTidings(
  label: string,
  env: Record<string, string>,
  readyLine: string,
  timeoutMs = 60_000,
  nodeFlags: readonly string[] = [],
): Promise<TidingsProcess> {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TIDINGS_")));
  const dataDir = mkdtempSync(join(tmpdir(), "tidings-bench-data-"));
  const child = spawn(process.execPath, [...TIDINGS_NODE_FLAGS, ...nodeFlags, "--import", import.meta.resolve("tsx"), "src/main.ts"], {
    cwd: STANDALONE_DIR,
    env: {
      ...clean,
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_METRICS_PORT: "0",
      TIDINGS_DRAIN_SECONDS: "0",
      TIDINGS_DATA_DIR: dataDir,
      TIDINGS_LOG_LEVEL: "info",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  LIVE.add(child);
  let output = "";
  const onData = (d: Buffer) => {
    output = (output + d.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<void>((resolve) =>
    child.once("exit", () => {
      LIVE.delete(child);
      rmSync(dataDir, { recursive: true, force: true });
      resolve();
    }),
  );
  const deadline = Date.now() + timeoutMs;
  while (!output.includes(readyLine)) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`${label} exited during start:\n${output.slice(-4000)}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`${label}: no '${readyLine}' within ${timeoutMs} ms:\n${output.slice(-4000)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    label,
    pid: child.pid ?? -1,
    port: Number(env["TIDINGS_PORT"] ?? 0),
    output: () => output,
    async stop(graceMs = 5000) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** What the clients and the producer of one target talk to. */
export interface Target {
  label: string;
  /** hub and ingest ports of the gateway(s) */
  ports: number[];
  /** set for the cluster: where the direct JetStream producer publishes */
  natsUrl: string | null;
  /** process ids, for the record */
  pids: Record<string, number>;
  /** the Tidings processes, in start order */
  processes: TidingsProcess[];
  stop(): Promise<void>;
}

const COMMON = {
  TIDINGS_AUTH_ANONYMOUS: "true",
  TIDINGS_MAX_CONNECTIONS_PER_USER: "100000",
  TIDINGS_MAX_SUBSCRIPTIONS: "1000",
};

/** One standalone process (`TIDINGS_ROLE=all`, no NATS): in-process routing. */
export async function startStandalone(): Promise<Target> {
  const port = await freePort();
  const p = await startTidings("standalone", { ...COMMON, TIDINGS_ROLE: "all", TIDINGS_PORT: String(port) }, "standalone listening");
  return { label: "standalone", ports: [port], natsUrl: null, pids: { standalone: p.pid }, processes: [p], stop: () => p.stop() };
}

/**
 * The cluster: nats-server with JetStream, one store service (embedded PGlite), one router and
 * `gateways` gateway nodes, each its own OS process; `gatewayEnv` adds to the gateways' environment,
 * `nodeFlags` go to every Tidings process's `node` after TIDINGS_NODE_FLAGS (e.g. `--cpu-prof`, or
 * `--no-single-threaded-gc` to undo one), `natsOptions` to nats-server's start.
 */
export async function startCluster(
  gateways: number,
  gatewayEnv: Record<string, string> = {},
  nodeFlags: readonly string[] = [],
  natsOptions: NatsServerOptions = {},
): Promise<Target> {
  let nats: NatsServer | null = null;
  const procs: TidingsProcess[] = [];
  const stop = async () => {
    // gateways first, then router, store, NATS (the reverse of the start order)
    for (const p of [...procs].reverse()) await p.stop();
    await nats?.stop();
  };
  try {
    nats = await startNats({ ...natsOptions, jetstream: true });
    const bus = { TIDINGS_NATS_URL: nats.url };
    procs.push(
      await startTidings(
        "store",
        { ...COMMON, ...bus, TIDINGS_ROLE: "store", TIDINGS_NODE_ID: "bench-store" },
        "store service answering",
        60_000,
        nodeFlags,
      ),
    );
    procs.push(
      await startTidings(
        "router",
        { ...COMMON, ...bus, TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "bench-router" },
        "router running",
        60_000,
        nodeFlags,
      ),
    );
    const ports: number[] = [];
    for (let i = 0; i < gateways; i++) {
      const port = await freePort();
      ports.push(port);
      procs.push(
        await startTidings(
          `gateway-${i + 1}`,
          { ...COMMON, ...bus, ...gatewayEnv, TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: `bench-gw-${i + 1}`, TIDINGS_PORT: String(port) },
          "gateway node listening",
          60_000,
          nodeFlags,
        ),
      );
    }
    const pids: Record<string, number> = { nats: nats.pid };
    for (const p of procs) pids[p.label] = p.pid;
    return { label: "cluster", ports, natsUrl: nats.url, pids, processes: procs, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

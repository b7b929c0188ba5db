import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, mkdtempSync, rmSync } from "node:fs";
import { connect } from "node:net";
import { connect as natsConnect } from "@nats-io/transport-node";
import { homedir, tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { freePort } from "./net.js";

export interface NatsServerOptions {
  /** Run with JetStream (`-js`), file storage in a temporary directory. */
  jetstream?: boolean;
  /** Longest wait for the server to accept connections, per start (default 10 s). */
  startTimeoutMs?: number;
  /** More `nats-server` arguments (cluster name, routes …). */
  extraArgs?: string[];
  /** Added to the server's environment (e.g. `GODEBUG`). */
  env?: Record<string, string>;
  /** Receives what the server prints once it is ready (stdout and stderr); without it the output is drained unread. */
  output?: (text: string) => void;
}

export interface NatsServer {
  /** `nats://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** The JetStream store directory (kept across `restart()`, removed by `stop()`). */
  readonly storeDir: string;
  /** Process id of the current server process. */
  readonly pid: number;
  /**
   * Stops the server (SIGTERM: a clean shutdown that flushes JetStream; SIGKILL: a crash) and
   * starts it again on the same port with the same store directory. Resolves when it accepts
   * connections again.
   */
  restart(opts?: { signal?: "SIGTERM" | "SIGKILL"; downMs?: number }): Promise<void>;
  /** Kills the server and removes its store directory. Idempotent. */
  stop(): Promise<void>;
}

/** Everything the server printed, for the error message when it fails to start. */
const OUTPUT_TAIL_CHARS = 4000;

/**
 * The nats-server binary: `TIDINGS_TEST_NATS_SERVER`, else `nats-server` on PATH, else
 * `~/go/bin/nats-server` (where `go install github.com/nats-io/nats-server/v2@latest` puts it).
 */
export function natsServerBinary(): string {
  const fromEnv = process.env["TIDINGS_TEST_NATS_SERVER"];
  if (fromEnv !== undefined && fromEnv !== "") return fromEnv;
  const candidates = (process.env["PATH"] ?? "")
    .split(delimiter)
    .filter((d) => d !== "")
    .map((d) => join(d, "nats-server"));
  candidates.push(join(homedir(), "go", "bin", "nats-server"));
  for (const candidate of candidates) {
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not here; try the next place.
    }
  }
  throw new Error(
    "nats-server not found: set TIDINGS_TEST_NATS_SERVER, put nats-server on PATH, or run `go install github.com/nats-io/nats-server/v2@latest`",
  );
}

// Servers still running when the test process exits are killed, so a failed test leaves no orphans.
const running = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const c of running) c.kill("SIGKILL");
    });
  }
}

/**
 * Starts a real `nats-server` on 127.0.0.1 on a free port (with `-js` when `jetstream` is set) and
 * resolves once it has printed "Server is ready" and answers a TCP connection with its INFO line.
 */
export async function startNats(opts: NatsServerOptions = {}): Promise<NatsServer> {
  const binary = natsServerBinary();
  const port = await freePort();
  const storeDir = mkdtempSync(join(tmpdir(), "tidings-nats-"));
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  const args = ["-a", "127.0.0.1", "-p", String(port)];
  if (opts.jetstream === true) args.push("-js", "-sd", storeDir);
  args.push(...(opts.extraArgs ?? []));

  const launchOpts = { env: opts.env ?? {}, output: opts.output ?? null };
  let child = await launch(binary, args, port, startTimeoutMs, launchOpts);
  let stopped = false;

  const kill = async (signal: NodeJS.Signals): Promise<void> => {
    const current = child;
    if (current.exitCode !== null || current.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => current.once("exit", () => resolve()));
    current.kill(signal);
    await exited;
  };

  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    storeDir,
    get pid() {
      return child.pid ?? -1;
    },
    async restart({ signal = "SIGTERM", downMs = 0 } = {}) {
      if (stopped) throw new Error("nats-server was stopped");
      await kill(signal);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      child = await launch(binary, args, port, startTimeoutMs, launchOpts);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await kill("SIGKILL");
      rmSync(storeDir, { recursive: true, force: true });
    },
  };
}

async function launch(
  binary: string,
  args: string[],
  port: number,
  timeoutMs: number,
  opts: { env: Record<string, string>; output: ((text: string) => void) | null },
): Promise<ChildProcess> {
  const child = spawn(binary, args, { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...opts.env } });
  track(child);
  let output = "";
  let ready = false;
  const onData = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-OUTPUT_TAIL_CHARS);
    if (output.includes("Server is ready")) ready = true;
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);

  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`nats-server exited during start (${child.exitCode ?? child.signalCode}):\n${output}`);
    }
    if (ready && (await answersInfo(port))) break;
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`nats-server did not become ready on port ${port} within ${timeoutMs} ms:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  // Keep draining its output (unread without `output`), so a chatty server never blocks on a full pipe.
  child.stdout?.off("data", onData).resume();
  child.stderr?.off("data", onData).resume();
  const sink = opts.output;
  if (sink !== null) for (const stream of [child.stdout, child.stderr]) stream?.on("data", (d: Buffer) => sink(d.toString("utf8")));
  return child;
}

/** True when a TCP connection to the port receives the server's `INFO` greeting. */
function answersInfo(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, "127.0.0.1");
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once("error", () => done(false));
    socket.once("data", (d) => done(d.toString("latin1").startsWith("INFO ")));
  });
}

export interface NatsCluster {
  /** Every server's client URL, comma-separated: what a client (or TIDINGS_NATS_URL) is given. */
  readonly url: string;
  /** The servers, each with its own client port and store directory. */
  readonly servers: readonly NatsServer[];
  /** Stops every server and removes their store directories. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Starts `size` (default 3) JetStream `nats-server` processes on 127.0.0.1 joined into one cluster
 * by routes, and resolves once JetStream answers with a meta leader elected (streams with up to
 * `size` replicas can then be created). Each server can be killed and restarted like `startNats`'s.
 */
export async function startNatsCluster(opts: { size?: number; startTimeoutMs?: number } = {}): Promise<NatsCluster> {
  const size = opts.size ?? 3;
  const clusterPorts = await Promise.all(Array.from({ length: size }, () => freePort()));
  const routes = clusterPorts.map((p) => `nats://127.0.0.1:${p}`).join(",");
  const name = `tidings-test-${process.pid}`;
  const servers: NatsServer[] = [];
  try {
    for (let i = 0; i < size; i++) {
      servers.push(
        await startNats({
          jetstream: true,
          ...(opts.startTimeoutMs === undefined ? {} : { startTimeoutMs: opts.startTimeoutMs }),
          extraArgs: [
            "--name",
            `${name}-${i}`,
            "--cluster_name",
            name,
            "--cluster",
            `nats://127.0.0.1:${clusterPorts[i]}`,
            "--routes",
            routes,
          ],
        }),
      );
    }
    await waitForJetStream(
      servers.map((s) => s.url),
      opts.startTimeoutMs ?? 30_000,
    );
  } catch (error) {
    await Promise.all(servers.map((s) => s.stop()));
    throw error;
  }
  let stopped = false;
  return {
    url: servers.map((s) => s.url).join(","),
    servers,
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}

/** Polls `$JS.API.INFO` until JetStream answers (a meta leader exists and every server has joined). */
async function waitForJetStream(urls: string[], timeoutMs: number): Promise<void> {
  const nc = await natsConnect({ servers: urls });
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const answer = JSON.parse(new TextDecoder().decode((await nc.request("$JS.API.INFO", undefined, { timeout: 1000 })).data)) as {
          error?: unknown;
        };
        if (answer.error === undefined && new Set(nc.info?.connect_urls ?? []).size >= urls.length) return;
      } catch {
        // No meta leader yet: ask again.
      }
      if (Date.now() > deadline) throw new Error(`JetStream cluster of ${urls.length} servers not ready within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await nc.close();
  }
}

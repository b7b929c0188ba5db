/**
 * Centrifugo (a Go process) as a fan-out peer: locating the binary, its config, and reading another
 * process's CPU time and RSS from /proc (Centrifugo cannot report `process.cpuUsage()` itself).
 */
import { execFileSync } from "node:child_process";
import { accessSync, constants, readFileSync, readdirSync } from "node:fs";
import { homedir } from "node:os";
import { delimiter, join } from "node:path";

export const CENTRIFUGO_API_KEY = "bench-api-key";

/** `$CENTRIFUGO_BIN`, `~/go/bin/centrifugo` (where `go install` puts it), or `centrifugo` on PATH; null if none is executable. */
export function centrifugoBinary(): string | null {
  const candidates = [
    process.env.CENTRIFUGO_BIN,
    join(homedir(), "go", "bin", "centrifugo"),
    ...(process.env.PATH ?? "")
      .split(delimiter)
      .filter((d) => d !== "")
      .map((d) => join(d, "centrifugo")),
  ];
  for (const c of candidates) {
    if (c === undefined || c === "") continue;
    try {
      accessSync(c, constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return null;
}

/**
 * Centrifugo v6 config: HTTP on 127.0.0.1:port, anonymous clients (`client.insecure`), any channel
 * without namespace subscribable, HTTP API with a key, health endpoint for readiness, logs at error.
 */
export function centrifugoConfig(port: number): Record<string, unknown> {
  return {
    http_server: { address: "127.0.0.1", port },
    log: { level: "error" },
    client: { insecure: true, allowed_origins: ["*"] },
    channel: { without_namespace: { allow_subscribe_for_client: true } },
    http_api: { key: CENTRIFUGO_API_KEY },
    health: { enabled: true },
  };
}

let clockTicks: number | null = null;

/** Clock ticks per second (`getconf CLK_TCK`, 100 on Linux almost always): the unit of utime/stime in /proc/<pid>/stat. */
export function clockTicksPerSecond(): number {
  if (clockTicks === null) {
    try {
      clockTicks = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
    } catch {
      clockTicks = 100;
    }
  }
  return clockTicks;
}

/**
 * User and system CPU time of a whole process (all threads), µs, from /proc/<pid>/stat fields 14 and
 * 15 (utime, stime; clock ticks). The same quantity `process.cpuUsage()` reports for the Node servers
 * (getrusage RUSAGE_SELF: user + system of all threads), at a resolution of one tick (10 ms).
 */
export function procCpuUs(pid: number): { userUs: number; systemUs: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // the command name (field 2) is in parentheses and may contain spaces: split after the last ')'
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // fields[0] is field 3 (state), so utime (14) is fields[11], stime (15) fields[12]
  const perTickUs = 1e6 / clockTicksPerSecond();
  return { userUs: Number(fields[11]) * perTickUs, systemUs: Number(fields[12]) * perTickUs };
}

/**
 * Time a process's threads spent runnable but waiting for a core, µs, and how many times they got
 * one, from /proc/<pid>/task/<tid>/schedstat (fields 2 and 3): the share of a latency tail that is
 * the machine's contention rather than the process's own work. `eventLoopOnly` reads the main
 * thread alone (a Node process's event loop; its GC and libuv helpers wait apart from it).
 */
export function procRunQueueWait(pid: number, eventLoopOnly: boolean): { waitUs: number; slices: number } {
  const tids = eventLoopOnly ? [String(pid)] : readdirSync(`/proc/${pid}/task`);
  let waitNs = 0;
  let slices = 0;
  for (const tid of tids) {
    try {
      const [, wait, count] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").trim().split(" ");
      waitNs += Number(wait);
      slices += Number(count);
    } catch {
      // the thread ended between listing and reading
    }
  }
  return { waitUs: waitNs / 1000, slices };
}

/** Resident set size of a process, bytes, from /proc/<pid>/status. */
export function procRss(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, "utf8")
    .split("\n")
    .find((l) => l.startsWith("VmRSS:"));
  return Number(/(\d+)/.exec(line ?? "")?.[1] ?? 0) * 1024;
}

import { execFile, spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { appendFile, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { freePort } from "./net.js";

const run = promisify(execFile);

export interface PostgresServer {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`, trust authentication. */
  url: string;
  /**
   * Stops the server at once (`pg_ctl stop -m immediate`, as a crash would), keeps it down for
   * `downMs`, then starts it again on the same port with the same data.
   */
  restart(opts?: { downMs?: number }): Promise<void>;
  /**
   * SIGSTOPs the postmaster and every backend: connections stay open and queries hang unanswered
   * (a frozen server, not a dead one) until `thaw()` SIGCONTs them.
   */
  freeze(): void;
  /** SIGCONTs what `freeze()` stopped; a no-op when the server is not running. */
  thaw(): void;
  /** Stops the server at once (`pg_ctl stop -m immediate`) and deletes its directory. Idempotent. */
  stop(): Promise<void>;
}

/** Servers not yet stopped, stopped synchronously if the test process exits first. */
const running = new Set<() => void>();
let exitHookInstalled = false;

/**
 * The directory holding `initdb`, `pg_ctl` and `postgres`: `TIDINGS_TEST_PG_BIN`, else the highest
 * version under `/usr/lib/postgresql/<version>/bin` (Debian's layout). Throws naming the missing
 * binary when PostgreSQL is not installed.
 */
export function postgresBinDir(): string {
  let dir = process.env["TIDINGS_TEST_PG_BIN"];
  if (dir === undefined || dir === "") {
    const root = "/usr/lib/postgresql";
    const versions = existsSync(root)
      ? readdirSync(root)
          .filter((v) => /^\d+(\.\d+)?$/.test(v) && existsSync(join(root, v, "bin")))
          .sort((a, b) => Number(b) - Number(a))
      : [];
    if (versions[0] === undefined) {
      throw new Error(
        `PostgreSQL is not installed: no ${root}/<version>/bin/initdb. Install it (Debian: apt-get install postgresql) or set TIDINGS_TEST_PG_BIN to the directory holding initdb, pg_ctl and postgres.`,
      );
    }
    dir = join(root, versions[0], "bin");
  }
  for (const binary of ["initdb", "pg_ctl", "postgres"]) {
    if (!existsSync(join(dir, binary))) {
      throw new Error(
        `PostgreSQL binary ${join(dir, binary)} not found. Install PostgreSQL or point TIDINGS_TEST_PG_BIN at its bin directory.`,
      );
    }
  }
  return dir;
}

/**
 * Starts a real, throw-away PostgreSQL server for tests: a fresh cluster in a temporary directory
 * (trust authentication, UTF-8, C locale, `fsync=off`), listening on 127.0.0.1 at a free port with
 * its Unix socket in that directory. When run as root (initdb refuses), the directory belongs to
 * the `postgres` user and the binaries run as it through `runuser`.
 */
export async function startPostgres(): Promise<PostgresServer> {
  const bin = postgresBinDir();
  const dir = await mkdtemp(join(tmpdir(), "tidings-pg-"));
  const data = join(dir, "data");
  const log = join(dir, "server.log");
  const asRoot = process.getuid?.() === 0;
  const exec = (binary: string, args: string[]) =>
    asRoot ? run("runuser", ["-u", "postgres", "--", join(bin, binary), ...args]) : run(join(bin, binary), args);
  const stopNow = () => {
    const args = ["stop", "-D", data, "-m", "immediate", "-w"];
    spawnSync(asRoot ? "runuser" : join(bin, "pg_ctl"), asRoot ? ["-u", "postgres", "--", join(bin, "pg_ctl"), ...args] : args, {
      stdio: "ignore",
    });
  };

  try {
    if (asRoot) {
      const { stdout } = await run("id", ["-u", "postgres"]).catch(() => {
        throw new Error("running as root, but there is no 'postgres' user to run initdb as (Debian's postgresql package creates it)");
      });
      const { stdout: gid } = await run("id", ["-g", "postgres"]);
      await chown(dir, Number(stdout.trim()), Number(gid.trim()));
    }
    await exec("initdb", ["-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"]);
    // Settings go into postgresql.conf rather than onto a shell command line, so no path is quoted twice.
    const quote = (s: string) => `'${s.replaceAll("'", "''")}'`;
    let port = 0;
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      await appendFile(
        join(data, "postgresql.conf"),
        [
          "",
          `listen_addresses = '127.0.0.1'`,
          `port = ${port}`,
          `unix_socket_directories = ${quote(dir)}`,
          "fsync = off",
          "synchronous_commit = off",
          "full_page_writes = off",
          "max_connections = 100",
          "",
        ].join("\n"),
      );
      try {
        await exec("pg_ctl", ["start", "-D", data, "-l", log, "-w", "-t", "60"]);
        break;
      } catch (err) {
        // Another process may have taken the free port in the meantime; a later `port` line wins.
        if (attempt === 3) throw err;
      }
    }
    running.add(stopNow);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once("exit", () => {
        for (const stop of running) stop();
      });
    }
    let stopping: Promise<void> | null = null;
    return {
      url: `postgres://postgres@127.0.0.1:${port}/postgres`,
      async restart({ downMs = 0 } = {}) {
        if (stopping !== null) throw new Error("PostgreSQL was stopped");
        await exec("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"]);
        await new Promise((r) => setTimeout(r, downMs));
        await exec("pg_ctl", ["start", "-D", data, "-l", log, "-w", "-t", "60"]);
      },
      freeze: () => signalServer(data, "SIGSTOP"),
      thaw: () => signalServer(data, "SIGCONT"),
      stop() {
        stopping ??= (async () => {
          running.delete(stopNow);
          // It fails only when the server is gone already, which is the state wanted.
          await exec("pg_ctl", ["stop", "-D", data, "-m", "immediate", "-w"]).catch(() => undefined);
          await rm(dir, { recursive: true, force: true });
        })();
        return stopping;
      },
    };
  } catch (err) {
    const serverLog = await readFile(log, "utf8").catch(() => "");
    stopNow();
    await rm(dir, { recursive: true, force: true });
    // execFile's message carries the command line and its stderr; the server log says why it stopped.
    const reason = err instanceof Error ? err.message : String(err);
    throw new Error(`could not start PostgreSQL from ${bin}: ${reason}${serverLog === "" ? "" : `\nserver log:\n${serverLog}`}`, {
      cause: err,
    });
  }
}

/**
 * Sends `signal` to the postmaster of `data` (first line of postmaster.pid) and to its child
 * processes; a no-op when the server is not running (no postmaster.pid).
 */
function signalServer(data: string, signal: "SIGSTOP" | "SIGCONT"): void {
  const pidFile = join(data, "postmaster.pid");
  if (!existsSync(pidFile)) return;
  const postmaster = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  const children = readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        // Field 4 of /proc/<pid>/stat, counted after the parenthesised command name, is the parent pid.
        const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
        return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) === postmaster;
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
  // Children first on SIGSTOP, so the postmaster cannot start a replacement meanwhile; it first on SIGCONT.
  const order = signal === "SIGSTOP" ? [...children, postmaster] : [postmaster, ...children];
  for (const pid of order) process.kill(pid, signal);
}

import { mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

export interface EmbeddedPostgres {
  /** `postgres://postgres@127.0.0.1:<port>/postgres`; use it with a pool of one connection (see below). */
  url: string;
  /** Stops the socket server, closes PGlite (flushing its files) and releases the data directory. Idempotent. */
  stop(): Promise<void>;
}

/**
 * How many client connections the embedded server accepts, and so the pool size to use with it.
 * PGlite is one Postgres backend. pglite-socket 0.2 lets several sockets share it by queueing
 * protocol messages one at a time and keeping a transaction's messages together, but it does not
 * keep an extended-protocol exchange (Parse/Bind/Execute/Sync) of one socket together outside a
 * transaction, and all sockets share the backend's prepared statements and session settings. So
 * the server takes one connection and the store uses one: postgres.js pipelines queries on it, and
 * concurrent transactions wait for each other, as they would on one connection anyway.
 */
export const EMBEDDED_MAX_CONNECTIONS = 1;

const LOCK_FILE = "tidings-embedded.lock";
/** Data directories this process holds, so a lock file naming our own pid is told apart from a stale one. */
const heldDirs = new Set<string>();

/**
 * Starts PGlite with its data under `dataDir` (created if missing) and serves it over the Postgres
 * wire protocol on 127.0.0.1 at a port the OS picks. The same SQL and driver then work as against a
 * real server. A lock file in `dataDir` refuses a second opener of the same directory (PGlite
 * itself would let two processes corrupt it); a lock left by a process that is gone is taken over.
 */
export async function startEmbeddedPostgres(opts: { dataDir: string }): Promise<EmbeddedPostgres> {
  const dataDir = resolve(opts.dataDir);
  await mkdir(dataDir, { recursive: true });
  await lockDataDir(dataDir);
  let db: PGlite | null = null;
  let server: PGLiteSocketServer | null = null;
  try {
    db = await PGlite.create({ dataDir: join(dataDir, "pgdata") });
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections: EMBEDDED_MAX_CONNECTIONS });
    await server.start();
  } catch (err) {
    await db?.close();
    await unlockDataDir(dataDir);
    throw err;
  }
  const port = Number(server.getServerConn().split(":").pop());
  const running = { db, server };
  let stopping: Promise<void> | null = null;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    stop() {
      stopping ??= (async () => {
        try {
          await running.server.stop();
          await running.db.close();
        } finally {
          await unlockDataDir(dataDir);
        }
      })();
      return stopping;
    },
  };
}

async function lockDataDir(dataDir: string): Promise<void> {
  const file = join(dataDir, LOCK_FILE);
  if (heldDirs.has(dataDir)) throw new Error(`embedded Postgres data directory ${dataDir} is already open in this process`);
  try {
    await writeFile(file, String(process.pid), { flag: "wx" });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
    const owner = Number((await readFile(file, "utf8")).trim());
    if (owner !== process.pid && isAlive(owner)) {
      throw new Error(
        `embedded Postgres data directory ${dataDir} is in use by process ${owner}; stop it or set TIDINGS_DATA_DIR to another directory`,
      );
    }
    await writeFile(file, String(process.pid));
  }
  heldDirs.add(dataDir);
}

async function unlockDataDir(dataDir: string): Promise<void> {
  heldDirs.delete(dataDir);
  await rm(join(dataDir, LOCK_FILE), { force: true });
}

function isAlive(pid: number): boolean {
  if (!Number.isSafeInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: the process exists but belongs to someone else.
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

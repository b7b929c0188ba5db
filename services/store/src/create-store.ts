import { readFileSync } from "node:fs";
import postgres, { type Notice, type Options, type Sql } from "postgres";
import type { Registry } from "prom-client";
import type { NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import { EMBEDDED_MAX_CONNECTIONS, startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.js";
import { createStoreMetrics, instrumentStore } from "./metrics.js";
import { migrate } from "./migrate.js";
import { PostgresNotificationStore } from "./postgres-store.js";

export interface CreateStoreOptions {
  /** A real PostgreSQL server (TIDINGS_DATABASE_URL). Unset: embedded PGlite in `dataDir`. */
  databaseUrl?: string | undefined;
  /** TLS to the server (TIDINGS_DATABASE_SSL_MODE); unset: `verify-full` with `sslRootCert`, else the URL's `sslmode`. */
  sslMode?: "disable" | "prefer" | "require" | "verify-ca" | "verify-full" | undefined;
  /** PEM CA bundle the server certificate must chain to (TIDINGS_DATABASE_SSL_ROOT_CERT). */
  sslRootCert?: string | undefined;
  /** Data directory of the embedded database (TIDINGS_DATA_DIR); unused with `databaseUrl`. */
  dataDir: string;
  /** Connections to a real server (default 10). The embedded server always gets exactly one. */
  poolSize?: number;
  /** When given, the store's metrics are registered here and every call is measured. */
  registry?: Registry;
  /** Server notices go here at debug level; without it they are dropped. */
  logger?: Logger;
  /** The store's clock for `save`'s "expired" decision. Default: the system clock. */
  clock?: () => Date;
}

export interface StoreHandle {
  store: NotificationStore;
  /** True when the database is the embedded PGlite. */
  embedded: boolean;
  /** Resolves when the database answers a trivial query (for `/readyz`); rejects otherwise. */
  ping(): Promise<void>;
  /** Ends the pool (letting running queries finish for up to 5 s), then stops the embedded database. Idempotent. */
  close(): Promise<void>;
}

/**
 * Connects to the database, applies pending migrations, and returns the store. With
 * `databaseUrl` it is that server; without, an embedded PGlite started in `dataDir`, reached
 * through the same driver and SQL. Rejects (and releases everything) when the database cannot be
 * reached or migrated.
 */
export async function createStore(opts: CreateStoreOptions): Promise<StoreHandle> {
  const { sql, embedded } = await connect(opts);
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> =>
    (closing ??= (async () => {
      try {
        await sql.end({ timeout: 5 });
      } finally {
        await embedded?.stop();
      }
    })());
  try {
    await migrate(sql);
  } catch (err) {
    await close();
    throw err;
  }
  const base = new PostgresNotificationStore(sql, opts.clock === undefined ? {} : { clock: opts.clock });
  return {
    store: opts.registry === undefined ? base : instrumentStore(base, createStoreMetrics(opts.registry)),
    embedded: embedded !== null,
    async ping() {
      await sql`SELECT 1`;
    },
    close,
  };
}

async function connect(opts: CreateStoreOptions): Promise<{ sql: Sql; embedded: EmbeddedPostgres | null }> {
  const onnotice = (notice: Notice): void => opts.logger?.debug({ notice: notice["message"] }, "postgres notice");
  if (opts.databaseUrl !== undefined) {
    const ssl = sslOption(opts);
    const sql = postgres(opts.databaseUrl, {
      ...(ssl === undefined ? {} : { ssl }),
      max: opts.poolSize ?? 10,
      connect_timeout: 10,
      onnotice,
      connection: { application_name: "tidings-store" },
    });
    return { sql, embedded: null };
  }
  const embedded = await startEmbeddedPostgres({ dataDir: opts.dataDir });
  const sql = postgres(embedded.url, {
    max: EMBEDDED_MAX_CONNECTIONS,
    connect_timeout: 10,
    // A loopback connection needs no rotation, and the server has no spare slot for a
    // replacement opened before the old one is gone.
    max_lifetime: null,
    idle_timeout: 0,
    onnotice,
  });
  return { sql, embedded };
}

/** The postgres.js `ssl` option for the TLS settings; undefined leaves it to the URL. */
export function sslOption(opts: Pick<CreateStoreOptions, "sslMode" | "sslRootCert">): Options<Record<string, never>>["ssl"] {
  const mode = opts.sslMode ?? (opts.sslRootCert === undefined ? undefined : "verify-full");
  const ca = opts.sslRootCert === undefined ? {} : { ca: readFileSync(opts.sslRootCert, "utf8") };
  switch (mode) {
    case undefined:
      return undefined;
    case "disable":
      return false;
    case "prefer":
    case "require":
      return mode;
    case "verify-ca":
      // The chain is checked against the CA; the host name is not (libpq's verify-ca).
      return { ...ca, rejectUnauthorized: true, checkServerIdentity: () => undefined };
    case "verify-full":
      return { ...ca, rejectUnauthorized: true };
  }
}

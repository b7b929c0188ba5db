import { afterAll, beforeAll, describe, expect, it } from "vitest";
import postgres, { type Sql } from "postgres";
import { Registry } from "prom-client";
import { startPostgres, type PostgresServer } from "@tidings/testkit";
import { createStore } from "../src/create-store.js";
import { MIGRATION_LOCK_KEY, migrate } from "../src/migrate.js";
import { PostgresNotificationStore } from "../src/postgres-store.js";
import { STORE_T0 as T0, storedNote as note } from "@tidings/testkit";
import { describePostgresStore } from "./postgres-suite.js";

describePostgresStore("PostgreSQL server", async ({ onQuery }) => {
  // A server per target: the "database is gone" test stops it.
  const pg = await startPostgres();
  const sql = postgres(pg.url, {
    max: 10,
    onnotice: () => {},
    debug: (_conn, query, params) => onQuery(query, [...(params as unknown[])]),
  });
  await migrate(sql);
  return {
    store: new PostgresNotificationStore(sql, { clock: () => T0 }),
    sql,
    stopDatabase: () => pg.stop(),
    close: async () => {
      await sql.end({ timeout: 1 });
      await pg.stop();
    },
  };
});

describe("PostgreSQL server: migrations and createStore", () => {
  let pg: PostgresServer;
  let admin: Sql;
  let databases = 0;

  /** A pool on a new, empty database of the shared server. */
  async function freshDatabase(): Promise<{ url: string; pools: Sql[] }> {
    const name = `m${++databases}`;
    await admin.unsafe(`CREATE DATABASE ${name}`);
    const url = pg.url.replace(/\/postgres$/, `/${name}`);
    return { url, pools: [postgres(url, { max: 2, onnotice: () => {} }), postgres(url, { max: 2, onnotice: () => {} })] };
  }

  beforeAll(async () => {
    pg = await startPostgres();
    admin = postgres(pg.url, { max: 1, onnotice: () => {} });
  });
  afterAll(async () => {
    await admin?.end({ timeout: 1 });
    await pg?.stop();
  });

  it("applies each migration once when two replicas migrate the same database at the same moment", async () => {
    for (let round = 0; round < 5; round++) {
      const { pools } = await freshDatabase();
      const [a, b] = pools as [Sql, Sql];
      const results = await Promise.all([migrate(a), migrate(b)]);
      expect(results.map((r) => r.join(",")).sort()).toEqual(["", "1"]);
      expect((await a`SELECT count(*)::int AS n FROM tidings_schema_migrations`)[0]!["n"]).toBe(1);
      await Promise.all([a.end(), b.end()]);
    }
  });

  it("waits for the advisory lock before reading the schema", async () => {
    const { pools } = await freshDatabase();
    const [holder, migrator] = pools as [Sql, Sql];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let locked!: () => void;
    const isLocked = new Promise<void>((r) => (locked = r));
    const holding = holder.begin(async (tx) => {
      await tx`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`;
      locked();
      await held;
    });
    await isLocked;
    let done = false;
    const migrating = migrate(migrator).then((r) => ((done = true), r));
    await new Promise((r) => setTimeout(r, 500));
    expect(done).toBe(false);
    expect((await holder`SELECT to_regclass('tidings_schema_migrations') AS t`)[0]!["t"]).toBeNull();
    release();
    await holding;
    expect(await migrating).toEqual([1]);
    await Promise.all([holder.end(), migrator.end()]);
  });

  it("refuses to start when an applied migration was edited", async () => {
    const { pools } = await freshDatabase();
    const [sql, other] = pools as [Sql, Sql];
    await migrate(sql);
    const edited = [{ version: 1, name: "0001_init.sql", sql: "SELECT 1", checksum: "different" }];
    await expect(migrate(sql, edited)).rejects.toThrow("migration 0001_init.sql was changed after it was applied");
    await Promise.all([sql.end(), other.end()]);
  });

  it("createStore on a server URL migrates, stores and measures", async () => {
    const { url, pools } = await freshDatabase();
    await Promise.all(pools.map((p) => p.end()));
    const registry = new Registry();
    const handle = await createStore({ databaseUrl: url, dataDir: "/nonexistent/unused", registry, clock: () => T0 });
    try {
      expect(handle.embedded).toBe(false);
      await handle.ping();
      expect(await handle.store.save(note("global", "n"))).toBe("stored");
      expect(await handle.store.save(note("global", "n"))).toBe("duplicate");
      const saves = await registry.getSingleMetric("tidings_store_saves_total")!.get();
      expect(saves.values.map((v) => [v.labels["result"], v.value])).toEqual([
        ["stored", 1],
        ["duplicate", 1],
        ["expired", 0],
      ]);
    } finally {
      await handle.close();
    }
  });

  it("createStore rejects when the server cannot be reached", async () => {
    const err: unknown = await createStore({ databaseUrl: "postgres://postgres@127.0.0.1:1/postgres", dataDir: "unused" }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(Error);
    expect((err as NodeJS.ErrnoException).code).toBe("ECONNREFUSED");
  });
});

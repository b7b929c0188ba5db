import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import postgres from "postgres";
import { BusNotificationStore, StoreUnavailableError } from "@tidings/contracts";
import { createStore } from "../src/create-store.js";
import { EMBEDDED_MAX_CONNECTIONS, startEmbeddedPostgres } from "../src/embedded.js";
import { migrate } from "../src/migrate.js";
import { PostgresNotificationStore } from "../src/postgres-store.js";
import { createStoreResponder } from "../src/responder.js";
import { STORE_T0 as T0, storedNote as note } from "@tidings/testkit";
import { describePostgresStore, type OpenOptions, type StoreTarget } from "./postgres-suite.js";
import { MemoryBus } from "@tidings/bus";

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "tidings-pglite-"));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

async function openEmbedded({ onQuery }: OpenOptions): Promise<StoreTarget> {
  const db = await startEmbeddedPostgres({ dataDir: await tempDir() });
  const sql = postgres(db.url, {
    max: EMBEDDED_MAX_CONNECTIONS,
    max_lifetime: null,
    onnotice: () => {},
    debug: (_conn, query, params) => onQuery(query, [...(params as unknown[])]),
  });
  await migrate(sql);
  return {
    store: new PostgresNotificationStore(sql, { clock: () => T0 }),
    sql,
    stopDatabase: () => db.stop(),
    close: async () => {
      await sql.end({ timeout: 1 });
      await db.stop();
    },
  };
}

describePostgresStore("embedded PGlite", openEmbedded);

describePostgresStore("embedded PGlite behind the bus (BusNotificationStore → responder)", async (opts) => {
  const target = await openEmbedded(opts);
  const bus = new MemoryBus();
  const responder = createStoreResponder(bus, target.store);
  return {
    ...target,
    store: new BusNotificationStore(bus, { timeoutMs: 10_000 }),
    close: async () => {
      await responder.close();
      await target.close();
    },
  };
});

describe("embedded PGlite: the data directory", () => {
  it("keeps notifications and receipts across closing and reopening the store", async () => {
    const dataDir = join(await tempDir(), "nested", "data");
    const first = await createStore({ dataDir, clock: () => T0 });
    expect(first.embedded).toBe(true);
    const n = note("user:u1", "kept");
    expect(await first.store.save(n)).toBe("stored");
    expect((await first.store.setState({ userId: "u1", audienceId: "user:u1", notificationId: "kept", now: T0, read: true })).changed).toBe(
      true,
    );
    await first.close();

    const second = await createStore({ dataDir, clock: () => T0 });
    try {
      const got = await second.store.replay({ userId: "u1", audiences: ["user:u1"], limit: 10, now: T0 });
      expect(got.map((d) => [d.id, d.isRead])).toEqual([["kept", true]]);
      expect(await second.store.save(n)).toBe("duplicate");
    } finally {
      await second.close();
    }
  });

  it("keeps what was saved when the process is killed without closing anything", async () => {
    const dataDir = await tempDir();
    const child = spawnSync(
      process.execPath,
      ["--import", "tsx", fileURLToPath(new URL("./save-then-crash.ts", import.meta.url)), dataDir],
      {
        encoding: "utf8",
        timeout: 60_000,
      },
    );
    expect(child.signal, child.stderr).toBe("SIGKILL");
    expect(JSON.parse(child.stdout)).toEqual({ saved: "stored", changed: true });

    const reopened = await createStore({ dataDir, clock: () => T0 });
    try {
      const got = await reopened.store.replay({ userId: "u1", audiences: ["user:u1"], limit: 10, now: T0 });
      expect(got.map((d) => [d.id, d.isRead])).toEqual([["survivor", true]]);
    } finally {
      await reopened.close();
    }
  });

  it("refuses a second opener of the same directory while the first holds it", async () => {
    const dataDir = await tempDir();
    const first = await createStore({ dataDir });
    try {
      await expect(createStore({ dataDir })).rejects.toThrow(/is already open in this process/);
    } finally {
      await first.close();
    }
    const again = await createStore({ dataDir });
    await again.close();
  });

  it("takes over a lock left by a process that has exited, and refuses one held by a live process", async () => {
    const dataDir = await tempDir();
    const gone = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" });
    await writeFile(join(dataDir, "tidings-embedded.lock"), gone.stdout);
    const store = await createStore({ dataDir });
    await store.close();

    // process.ppid is alive (the test runner) and is not this process.
    await writeFile(join(dataDir, "tidings-embedded.lock"), String(process.ppid));
    await expect(startEmbeddedPostgres({ dataDir })).rejects.toThrow(`is in use by process ${process.ppid}`);
  });

  it("bus callers get StoreUnavailableError, never a stored result, when the database is gone", async () => {
    const db = await startEmbeddedPostgres({ dataDir: await tempDir() });
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    await migrate(sql);
    const bus = new MemoryBus();
    const responder = createStoreResponder(bus, new PostgresNotificationStore(sql, { clock: () => T0 }));
    const store = new BusNotificationStore(bus, { timeoutMs: 10_000 });
    try {
      expect(await store.save(note("global", "a"))).toBe("stored");
      await db.stop();
      await expect(store.save(note("global", "b"))).rejects.toBeInstanceOf(StoreUnavailableError);
    } finally {
      await responder.close();
      await sql.end({ timeout: 1 });
    }
  });
});

describe("embedded PGlite: startEmbeddedPostgres", () => {
  let db: Awaited<ReturnType<typeof startEmbeddedPostgres>>;
  beforeAll(async () => {
    db = await startEmbeddedPostgres({ dataDir: await tempDir() });
  });
  afterAll(async () => {
    await db?.stop();
  });

  it("serves Postgres on 127.0.0.1 and stop is idempotent", async () => {
    expect(db.url).toMatch(/^postgres:\/\/postgres@127\.0\.0\.1:\d+\/postgres$/);
    const sql = postgres(db.url, { max: 1 });
    expect((await sql`SELECT 1 + 1 AS two`)[0]!["two"]).toBe(2);
    await sql.end();
    await Promise.all([db.stop(), db.stop()]);
  });
});

/**
 * A PostgreSQL-backed store (a real server, embedded PGlite, or either behind the bus) against the
 * `NotificationStore` conformance suite of `@tidings/testkit`, plus what only a database shows: the
 * query plan of replay, idempotent migrations, and a save while the database is gone. Each
 * backend's test file supplies a harness.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { Sql } from "postgres";
import type { DeliveredNotification, NotificationStore } from "@tidings/contracts";
import { STORE_T0 as T0, storedNote as note } from "@tidings/testkit";
import { describeStoreConformance } from "@tidings/testkit/conformance";
import { migrate } from "../src/migrate.js";

export interface StoreTarget {
  /** A store on a migrated database whose clock is `T0`. */
  store: NotificationStore;
  /** A pool on the same database, for arranging rows and inspecting them. */
  sql: Sql;
  /** Makes the database unreachable for `store` (stops the server). */
  stopDatabase(): Promise<void>;
  /** Releases everything; safe after `stopDatabase`. */
  close(): Promise<void>;
}

export interface OpenOptions {
  /** Called for every query sent on `sql` and by the store: its text and a copy of its parameters. */
  onQuery: (query: string, params: unknown[]) => void;
}

const ids = (items: readonly DeliveredNotification[]) => items.map((n) => `${n.audienceId}/${n.id}`);

/** Opens a fresh, empty target on its own database. */
export type OpenTarget = (opts: OpenOptions) => Promise<StoreTarget>;

export function describePostgresStore(name: string, open: OpenTarget): void {
  /** One target for the conformance suite and the checks below; while `captured` is set, every query sent is appended. */
  let target: Promise<StoreTarget> | undefined;
  let captured: { query: string; params: unknown[] }[] | null = null;
  const shared = () => (target ??= open({ onQuery: (query, params) => captured?.push({ query, params }) }));
  const truncate = async () => {
    await (
      await shared()
    ).sql`TRUNCATE notifications, receipts`;
  };

  // The target is closed once, after the checks below.
  describeStoreConformance(name, async () => ({ store: (await shared()).store, reset: truncate, close: async () => {} }));

  describe(`NotificationStore on PostgreSQL: ${name}`, () => {
    let store: NotificationStore;
    let sql: Sql;
    beforeAll(async () => {
      ({ store, sql } = await shared());
    });
    afterAll(async () => {
      await (await target)?.close();
    });
    beforeEach(truncate);

    it("reads one audience of 10k rows by an index range scan, not a table scan", async () => {
      await sql`
        INSERT INTO notifications (audience_id, id, type, body, audience_type, audience_value, producer, time_stamp, expires_at)
        SELECT CASE WHEN i <= 10000 THEN 'group:big' ELSE 'group:other' || (i % 50) END, 'n' || i, 'bulk',
               jsonb_build_object('i', i), 3, 'big', 'bench', ${T0}::timestamptz - i * interval '1 second',
               ${T0}::timestamptz + interval '1 day'
        FROM generate_series(1, 15000) AS i`;
      await sql`ANALYZE notifications`;
      await sql`ANALYZE receipts`;
      const replay = () => store.replay({ userId: "u1", audiences: ["group:big"], limit: 100, now: T0 });
      const timings: number[] = [];
      let got: DeliveredNotification[] = [];
      for (let i = 0; i < 20; i++) {
        const started = performance.now();
        got = await replay();
        timings.push(performance.now() - started);
      }
      expect(got).toHaveLength(100);
      expect(got[0]!.id).toBe("n100");
      expect(got[99]!.id).toBe("n1");
      timings.sort((a, b) => a - b);
      console.info(
        `[${name}] replay of 100 from one audience of 10k rows: median ${timings[10]!.toFixed(2)} ms, max ${timings[19]!.toFixed(2)} ms`,
      );

      // The plan of the very statement the store sent.
      captured = [];
      await replay();
      const sent = captured as { query: string; params: unknown[] }[];
      captured = null;
      expect(sent).toHaveLength(1);
      const [row] = await sql.unsafe(`EXPLAIN (FORMAT JSON) ${sent[0]!.query}`, sent[0]!.params as never[]);
      const plan = JSON.stringify(row);
      expect(plan).toContain('"Index Name":"notifications_replay_idx"');
      expect(plan).not.toMatch(/"Seq Scan"[^}]*"Relation Name":"notifications"/);
    });

    it("with `since`, replay returns only rows created at or after it, to the millisecond", async () => {
      for (const [id, ago] of [
        ["old", 60],
        ["edge", 30],
        ["new", 1],
      ] as const) {
        await store.save(note("user:u1", id, { ts: -ago }));
        await sql`UPDATE notifications SET created_at = ${new Date(T0.getTime() - ago * 1000)} WHERE id = ${id}`;
      }
      const since = new Date(T0.getTime() - 30_000);
      expect(ids(await store.replay({ userId: "u1", audiences: ["user:u1"], limit: 100, now: T0, since }))).toEqual([
        "user:u1/edge",
        "user:u1/new",
      ]);
      expect(ids(await store.replay({ userId: "u1", audiences: ["user:u1"], limit: 100, now: T0 }))).toEqual([
        "user:u1/old",
        "user:u1/edge",
        "user:u1/new",
      ]);
    });

    it("expire deletes the rows and their receipts", async () => {
      await store.save(note("global", "old", { ttl: 10 }));
      await store.setState({ userId: "u1", audienceId: "global", notificationId: "old", now: T0, read: true });
      expect(await store.expire(new Date(T0.getTime() + 10_000), 10)).toBe(1);
      expect((await sql`SELECT count(*)::int AS n FROM notifications`)[0]!["n"]).toBe(0);
      expect((await sql`SELECT count(*)::int AS n FROM receipts`)[0]!["n"]).toBe(0);
    });

    it("saveMany writes the batch with one INSERT statement, whatever its size", async () => {
      captured = [];
      const batch = Array.from({ length: 50 }, (_, i) => note(`user:u${i % 7}`, `m${i}`, { ts: i }));
      const outcomes = await store.saveMany(batch);
      const inserts = captured.filter((q) => /INSERT INTO notifications/.test(q.query));
      captured = null;
      expect(outcomes.every((o) => o.ok && o.result === "stored")).toBe(true);
      expect(inserts).toHaveLength(1);
      expect((await sql`SELECT count(*)::int AS n FROM notifications`)[0]!["n"]).toBe(50);
    });

    it("saveMany refuses only the row the database refuses for good (a NUL in JSON), and stores the rest", async () => {
      const outcomes = await store.saveMany([
        note("global", "a"),
        note("global", "nul", { body: { s: "a\u0000b" } }),
        note("global", "b", { ts: 1 }),
      ]);
      expect(outcomes.map((o) => (o.ok ? o.result : "refused"))).toEqual(["stored", "refused", "stored"]);
      expect(ids(await store.replay({ userId: null, audiences: ["global"], limit: 10, now: T0 }))).toEqual(["global/a", "global/b"]);
    });

    it("migrations are recorded once and applying them again changes nothing", async () => {
      expect(await migrate(sql)).toEqual([]);
      const rows = await sql`SELECT version, name FROM tidings_schema_migrations ORDER BY version`;
      expect(rows.map((r) => [r["version"] as number, r["name"] as string])).toEqual([[1, "0001_init.sql"]]);
    });
  });

  describe(`NotificationStore when the database is gone: ${name}`, () => {
    it("rejects a save and a batch save instead of reporting them stored", async () => {
      const target = await open({ onQuery: () => {} });
      try {
        expect(await target.store.save(note("global", "before"))).toBe("stored");
        await target.stopDatabase();
        const outcome = await target.store.save(note("global", "after")).then(
          (result) => ({ result }),
          (err: unknown) => ({ err }),
        );
        expect(outcome).toHaveProperty("err");
        expect((outcome as { err: unknown }).err).toBeInstanceOf(Error);
        await expect(target.store.saveMany([note("global", "after2"), note("global", "after3")])).rejects.toThrow(Error);
      } finally {
        await target.close();
      }
    });
  });
}

/**
 * The `NotificationStore` contract (packages/contracts/src/interfaces.ts) as tests, run by every
 * implementation: PostgreSQL (a server, embedded PGlite, either behind the bus) and
 * `MemoryNotificationStore`. A backend's own checks (query plans, migrations, an outage) live
 * with the backend.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { toDelivered, type DeliveredNotification, type Notification, type NotificationStore } from "@tidings/contracts";
import { STORE_T0 as T0, storedNote as note } from "../store-fixtures.js";

export interface StoreUnderTest {
  /** A store whose clock is `STORE_T0`. */
  store: NotificationStore;
  /** Removes every notification and receipt; called before each test. */
  reset(): Promise<void>;
  /** Releases everything. */
  close(): Promise<void>;
}

const ids = (items: readonly DeliveredNotification[]) => items.map((n) => `${n.audienceId}/${n.id}`);

export function describeStoreConformance(name: string, open: () => Promise<StoreUnderTest>): void {
  describe(`NotificationStore conformance: ${name}`, () => {
    let target: StoreUnderTest;
    let store: NotificationStore;

    beforeAll(async () => {
      target = await open();
      store = target.store;
    });
    afterAll(async () => {
      await target?.close();
    });
    beforeEach(async () => {
      await target.reset();
    });

    const replay = (userId: string | null, audiences: string[], limit = 100, now = T0) => store.replay({ userId, audiences, limit, now });
    const read = (userId: string, n: Notification, isRead: boolean, now = T0) =>
      store.setState({ userId, audienceId: n.routing.audienceId, notificationId: n.id, now, read: isRead });
    const remove = (userId: string, n: Notification, now = T0) =>
      store.setState({ userId, audienceId: n.routing.audienceId, notificationId: n.id, now, deleted: true });

    describe("save", () => {
      it("stores a notification once per (audience, id) and returns it exactly as delivered", async () => {
        const bodies: unknown[] = [{ amount: 149.99, lines: [1, 2, { x: "é€😀" }] }, "text", 42, null, [1, "two"], true];
        const saved = bodies.map((body, i) => note(i % 2 === 0 ? "group:acme:sales" : "tenant:acme", `n${i}`, { ts: i, body }));
        for (const n of saved) expect(await store.save(n)).toBe("stored");
        const got = await replay(null, ["group:acme:sales", "tenant:acme"]);
        expect(got).toEqual(saved.map((n) => toDelivered(n, false)));
      });

      it("answers duplicate for the same audience and id, whatever the content, and keeps the first", async () => {
        const first = note("global", "dup", { body: { v: 1 } });
        expect(await store.save(first)).toBe("stored");
        expect(await store.save({ ...first, body: { v: 2 }, type: "other" })).toBe("duplicate");
        expect(await store.save(first)).toBe("duplicate");
        // The same id in another audience is another notification.
        expect(await store.save(note("user:u1", "dup"))).toBe("stored");
        expect(await replay("u1", ["global"])).toEqual([toDelivered(first, false)]);
        expect(ids(await replay(null, ["global", "user:u1"]))).toEqual(["global/dup", "user:u1/dup"]);
      });

      it("answers expired when persistedTTL is at or before the store's clock, and stores nothing", async () => {
        expect(await store.save(note("global", "past", { ts: -10, ttl: -1 }))).toBe("expired");
        expect(await store.save(note("global", "edge", { ts: -10, ttl: 0 }))).toBe("expired");
        expect(await store.save(note("global", "live", { ts: -10, ttl: 0.001 }))).toBe("stored");
        // Even asked about an earlier instant, only the live one exists.
        expect(ids(await replay(null, ["global"], 100, new Date(T0.getTime() - 60_000)))).toEqual(["global/live"]);
      });

      it("refuses a notification that is not persisted", async () => {
        const n = note("global", "x");
        await expect(store.save({ ...n, metadata: { ...n.metadata, isPersisted: false, persistedTTL: null } })).rejects.toThrow(RangeError);
      });
    });

    describe("saveMany", () => {
      it("stores a batch in one call with one outcome per notification, as save would answer each", async () => {
        const earlier = note("global", "seen");
        expect(await store.save(earlier)).toBe("stored");
        const batch = [
          note("group:acme:sales", "b1", { ts: 1, body: { amount: 149.99, lines: ["é€😀"] } }),
          { ...earlier, body: { other: true } },
          note("global", "gone", { ts: -10, ttl: 0 }),
          note("tenant:acme", "b2", { ts: 2, body: null }),
          note("user:u1", "b1", { ts: 3, body: [1, "two"] }),
        ];
        expect(await store.saveMany(batch)).toEqual([
          { ok: true, result: "stored" },
          { ok: true, result: "duplicate" },
          { ok: true, result: "expired" },
          { ok: true, result: "stored" },
          { ok: true, result: "stored" },
        ]);
        const got = await replay("u1", ["global", "group:acme:sales", "tenant:acme", "user:u1"]);
        expect(got).toEqual([earlier, batch[0]!, batch[3]!, batch[4]!].map((n) => toDelivered(n, false)));
        expect(await store.saveMany([])).toEqual([]);
      });

      it("stores the same audience and id twice in one batch once: stored, then duplicate, keeping the first", async () => {
        const first = note("user:u2", "twice", { body: { v: 1 } });
        expect(await store.saveMany([first, { ...first, body: { v: 2 } }, note("user:u2", "other", { ts: 1 })])).toEqual([
          { ok: true, result: "stored" },
          { ok: true, result: "duplicate" },
          { ok: true, result: "stored" },
        ]);
        expect(await replay("u2", ["user:u2"])).toEqual([
          toDelivered(first, false),
          toDelivered(note("user:u2", "other", { ts: 1 }), false),
        ]);
      });

      it("refuses a notification that is not persisted alone, and stores the rest of the batch", async () => {
        const bad = note("global", "not-persisted");
        const outcomes = await store.saveMany([
          note("global", "ok1"),
          { ...bad, metadata: { ...bad.metadata, isPersisted: false, persistedTTL: null } },
          note("global", "ok2", { ts: 1 }),
        ]);
        expect(outcomes.map((o) => o.ok)).toEqual([true, false, true]);
        const refused = outcomes[1]!;
        expect(!refused.ok && refused.error.length > 0).toBe(true);
        expect(ids(await replay(null, ["global"]))).toEqual(["global/ok1", "global/ok2"]);
      });
    });

    describe("replay", () => {
      it("merges audiences oldest first by (timeStamp, id, audienceId)", async () => {
        await store.save(note("global", "b", { ts: 5 }));
        await store.save(note("user:u1", "a", { ts: 5 }));
        await store.save(note("user:u1", "z", { ts: 1 }));
        await store.save(note("global", "same", { ts: 3 }));
        await store.save(note("user:u1", "same", { ts: 3 }));
        await store.save(note("global", "B", { ts: 5 }));
        expect(ids(await replay("u1", ["user:u1", "global"]))).toEqual([
          "user:u1/z",
          "global/same",
          "user:u1/same",
          "global/B",
          "user:u1/a",
          "global/b",
        ]);
      });

      it("returns the newest `limit` of each audience", async () => {
        for (let i = 0; i < 5; i++) await store.save(note("group:g", `g${i}`, { ts: i }));
        for (let i = 0; i < 3; i++) await store.save(note("global", `x${i}`, { ts: 10 + i }));
        expect(ids(await replay(null, ["group:g", "global"], 2))).toEqual(["group:g/g3", "group:g/g4", "global/x1", "global/x2"]);
        expect(await replay(null, ["group:g"], 0)).toEqual([]);
      });

      it("with `since`, returns only what the store received at or after it (catch-up after a bus outage)", async () => {
        // Backends stamp receipt with their own clock (a database's may not be STORE_T0): instants
        // far before and far after any of them.
        await store.save(note("user:u1", "a"));
        await store.save(note("user:u1", "b", { ts: 1 }));
        const q = { userId: "u1", audiences: ["user:u1"], limit: 100, now: T0 };
        expect(ids(await store.replay({ ...q, since: new Date("2000-01-01T00:00:00.000Z") }))).toEqual(["user:u1/a", "user:u1/b"]);
        expect(await store.replay({ ...q, since: new Date("2100-01-01T00:00:00.000Z") })).toEqual([]);
      });

      it("skips what the user deleted, before applying the limit; other users and anonymous still get it", async () => {
        for (let i = 0; i < 4; i++) await store.save(note("global", `n${i}`, { ts: i }));
        expect((await remove("u1", note("global", "n3"))).changed).toBe(true);
        expect(ids(await replay("u1", ["global"], 2))).toEqual(["global/n1", "global/n2"]);
        expect(ids(await replay("u2", ["global"], 2))).toEqual(["global/n2", "global/n3"]);
        expect(ids(await replay(null, ["global"], 2))).toEqual(["global/n2", "global/n3"]);
      });

      it("carries each user's own read flag; anonymous is never read", async () => {
        const n = note("tenant:t1", "n");
        const m = note("tenant:t1", "m", { ts: 1 });
        await store.save(n);
        await store.save(m);
        await read("u1", n, true);
        await read("u2", m, true);
        const flags = async (user: string | null) => (await replay(user, ["tenant:t1"])).map((d) => [d.id, d.isRead]);
        expect(await flags("u1")).toEqual([
          ["n", true],
          ["m", false],
        ]);
        expect(await flags("u2")).toEqual([
          ["n", false],
          ["m", true],
        ]);
        expect(await flags("u3")).toEqual([
          ["n", false],
          ["m", false],
        ]);
        expect(await flags(null)).toEqual([
          ["n", false],
          ["m", false],
        ]);
      });

      it("never returns a notification at or after its expiry, even before it is swept", async () => {
        await store.save(note("global", "short", { ttl: 60 }));
        await store.save(note("global", "long", { ttl: 120 }));
        expect(ids(await replay(null, ["global"], 10, new Date(T0.getTime() + 59_999)))).toEqual(["global/long", "global/short"]);
        expect(ids(await replay(null, ["global"], 10, new Date(T0.getTime() + 60_000)))).toEqual(["global/long"]);
        expect(await replay(null, ["global"], 10, new Date(T0.getTime() + 120_000))).toEqual([]);
      });

      it("ignores unknown audiences and repeated ones", async () => {
        await store.save(note("global", "n"));
        expect(ids(await replay(null, ["global", "group:none", "global"]))).toEqual(["global/n"]);
        expect(await replay(null, [])).toEqual([]);
      });
    });

    describe("setState", () => {
      const n = note("group:g", "n", { ttl: 600 });
      const later = (s: number) => new Date(T0.getTime() + s * 1000);

      it("marks read and unread, reporting a change only when the state differs", async () => {
        await store.save(n);
        expect(await read("u1", n, false, later(1))).toEqual({ found: true, changed: false, changedAt: later(1).toISOString() });
        expect(await read("u1", n, true, later(2))).toEqual({ found: true, changed: true, changedAt: later(2).toISOString() });
        expect(await read("u1", n, true, later(3))).toEqual({ found: true, changed: false, changedAt: later(2).toISOString() });
        expect(await read("u1", n, false, later(4))).toEqual({ found: true, changed: true, changedAt: later(4).toISOString() });
        expect(await read("u1", n, false, later(5))).toEqual({ found: true, changed: false, changedAt: later(4).toISOString() });
        expect(await read("u1", n, true, later(6))).toEqual({ found: true, changed: true, changedAt: later(6).toISOString() });
        // Another user's state is untouched.
        expect(await read("u2", n, false, later(7))).toEqual({ found: true, changed: false, changedAt: later(7).toISOString() });
        expect((await replay("u2", ["group:g"]))[0]!.isRead).toBe(false);
      });

      it("deletes for one user only, once and for good", async () => {
        await store.save(n);
        await read("u1", n, true, later(1));
        expect(await remove("u1", n, later(2))).toEqual({ found: true, changed: true, changedAt: later(2).toISOString() });
        expect(await remove("u1", n, later(3))).toEqual({ found: true, changed: false, changedAt: later(2).toISOString() });
        expect((await read("u1", n, false, later(4))).changed).toBe(false);
        expect((await read("u1", n, true, later(5))).changed).toBe(false);
        expect(await replay("u1", ["group:g"])).toEqual([]);
        expect(ids(await replay("u2", ["group:g"]))).toEqual(["group:g/n"]);
        // Deleting something never read works as well.
        expect((await remove("u2", n, later(6))).changed).toBe(true);
        expect(await replay("u2", ["group:g"])).toEqual([]);
      });

      it("answers found: false for an unknown id, another audience, or an expired notification, and records nothing", async () => {
        await store.save(n);
        const notFound = { found: false, changed: false, changedAt: later(1).toISOString() };
        expect(await store.setState({ userId: "u1", audienceId: "group:g", notificationId: "nope", now: later(1), read: true })).toEqual(
          notFound,
        );
        expect(await store.setState({ userId: "u1", audienceId: "global", notificationId: "n", now: later(1), deleted: true })).toEqual(
          notFound,
        );
        const expired = { found: false, changed: false, changedAt: later(600).toISOString() };
        expect(await read("u1", n, true, later(600))).toEqual(expired);
        expect(await remove("u1", n, later(600))).toEqual(expired);
        // Nothing recorded: u1 sees n unread before it expires, and the others once they exist.
        await store.save(note("group:g", "nope"));
        await store.save(note("global", "n"));
        expect((await replay("u1", ["group:g", "global"])).map((d) => [`${d.audienceId}/${d.id}`, d.isRead])).toEqual([
          ["global/n", false],
          ["group:g/n", false],
          ["group:g/nope", false],
        ]);
      });

      it("reports exactly one change for concurrent identical calls", async () => {
        await store.save(n);
        const reads = await Promise.all(Array.from({ length: 8 }, () => read("u1", n, true, later(1))));
        expect(reads.filter((r) => r.changed)).toHaveLength(1);
        const deletes = await Promise.all(Array.from({ length: 8 }, () => remove("u1", n, later(2))));
        expect(deletes.filter((r) => r.changed)).toHaveLength(1);
      });
    });

    describe("listForUser", () => {
      const list = (q: { unreadOnly?: boolean; limit: number; cursor?: string | null; now?: Date }) =>
        store.listForUser({
          userId: "u1",
          audiences: ["user:u1", "global", "tenant:t1"],
          unreadOnly: q.unreadOnly ?? false,
          limit: q.limit,
          cursor: q.cursor ?? null,
          now: q.now ?? T0,
        });

      beforeEach(async () => {
        await store.save(note("user:u1", "a", { ts: 1 }));
        await store.save(note("global", "b", { ts: 2 }));
        await store.save(note("tenant:t1", "c", { ts: 3 }));
        await store.save(note("global", "d", { ts: 3 }));
        await store.save(note("user:u1", "d", { ts: 3 }));
        await store.save(note("global", "e", { ts: 4, ttl: 100 }));
        await store.save(note("user:u1", "f", { ts: 5 }));
        await store.save(note("tenant:other", "x", { ts: 6 }));
        await store.save(note("user:u2", "y", { ts: 7 }));
      });

      it("pages newest first with an opaque cursor, each item exactly once", async () => {
        const all = ["user:u1/f", "global/e", "user:u1/d", "global/d", "tenant:t1/c", "global/b", "user:u1/a"];
        const seen: string[] = [];
        let cursor: string | null = null;
        let pages = 0;
        do {
          const page: Awaited<ReturnType<typeof list>> = await list({ limit: 2, cursor });
          seen.push(...ids(page.items));
          expect(page.unreadCount).toBe(7);
          cursor = page.nextCursor;
          pages++;
        } while (cursor !== null && pages < 10);
        expect(seen).toEqual(all);
        expect(pages).toBe(4);
        const exact = await list({ limit: 7 });
        expect(ids(exact.items)).toEqual(all);
        expect(exact.nextCursor).toBeNull();
      });

      it("counts unread over all pages, leaving out read, deleted and expired ones, and filters unread", async () => {
        await read("u1", note("global", "d"), true);
        await remove("u1", note("tenant:t1", "c"));
        await read("u1", note("global", "b"), true);
        await remove("u1", note("global", "b"));
        const later = new Date(T0.getTime() + 100_000);
        const page = await list({ limit: 2, now: later });
        expect(page.unreadCount).toBe(3);
        expect(page.items.map((d) => [`${d.audienceId}/${d.id}`, d.isRead])).toEqual([
          ["user:u1/f", false],
          ["user:u1/d", false],
        ]);
        const page2 = await list({ limit: 2, now: later, cursor: page.nextCursor });
        expect(page2.items.map((d) => [`${d.audienceId}/${d.id}`, d.isRead])).toEqual([
          ["global/d", true],
          ["user:u1/a", false],
        ]);
        expect(page2.nextCursor).toBeNull();
        const unread = await list({ limit: 10, unreadOnly: true, now: later });
        expect(ids(unread.items)).toEqual(["user:u1/f", "user:u1/d", "user:u1/a"]);
        expect(unread.unreadCount).toBe(3);
      });

      it("refuses a cursor it did not make and a limit below 1", async () => {
        await expect(list({ limit: 2, cursor: "not-a-cursor" })).rejects.toThrow(RangeError);
        await expect(list({ limit: 0 })).rejects.toThrow(RangeError);
      });
    });

    describe("keys with NUL (U+0000), which PostgreSQL cannot hold in text", () => {
      const withNul = "a\u0000b";
      const listFor = (userId: string, audiences: string[], cursor: string | null = null) =>
        store.listForUser({ userId, audiences, unreadOnly: false, limit: 10, cursor, now: T0 });
      const cursorOf = (id: string, audienceId: string) =>
        Buffer.from(JSON.stringify([T0.toISOString(), id, audienceId]), "utf8").toString("base64url");

      it("refuses them with RangeError in every query, as it refuses other malformed arguments", async () => {
        const n = note("global", "n");
        await store.save(n);
        await expect(replay(withNul, ["global"])).rejects.toThrow(RangeError);
        await expect(replay(null, ["global", withNul])).rejects.toThrow(RangeError);
        await expect(read(withNul, n, true)).rejects.toThrow(RangeError);
        await expect(read("u1", { ...n, id: withNul }, true)).rejects.toThrow(RangeError);
        await expect(read("u1", { ...n, routing: { ...n.routing, audienceId: withNul } }, true)).rejects.toThrow(RangeError);
        await expect(listFor(withNul, ["global"])).rejects.toThrow(RangeError);
        await expect(listFor("u1", ["global", withNul])).rejects.toThrow(RangeError);
        await expect(listFor("u1", ["global"], cursorOf(withNul, "global"))).rejects.toThrow(RangeError);
        await expect(listFor("u1", ["global"], cursorOf("n", withNul))).rejects.toThrow(RangeError);
        // The store still answers well-formed queries.
        expect(ids(await replay("u1", ["global"]))).toEqual(["global/n"]);
        expect(ids((await listFor("u1", ["global"], cursorOf("z", "global"))).items)).toEqual(["global/n"]);
      });
    });

    describe("expire", () => {
      it("deletes expired rows and their receipts in batches, leaving live ones", async () => {
        for (let i = 0; i < 7; i++) await store.save(note("global", `old${i}`, { ttl: 10 + i }));
        for (let i = 0; i < 3; i++) await store.save(note("global", `new${i}`, { ttl: 1000 }));
        await read("u1", note("global", "old0"), true);
        await remove("u2", note("global", "old1"));
        await read("u1", note("global", "new0"), true);
        const now = new Date(T0.getTime() + 500_000);
        const counts = [];
        for (let i = 0; i < 4; i++) counts.push(await store.expire(now, 3));
        expect(counts).toEqual([3, 3, 1, 0]);
        // Gone, not just hidden: asked about a time before they expired, only the live ones exist.
        expect(ids(await replay(null, ["global"]))).toEqual(["global/new0", "global/new1", "global/new2"]);
        // Their receipts went with them: saved again, old0 is new to u1 and old1 is back for u2.
        expect(await store.save(note("global", "old0", { ttl: 1000 }))).toBe("stored");
        expect(await store.save(note("global", "old1", { ttl: 1000 }))).toBe("stored");
        expect((await replay("u1", ["global"])).map((d) => [d.id, d.isRead])).toEqual([
          ["new0", true],
          ["new1", false],
          ["new2", false],
          ["old0", false],
          ["old1", false],
        ]);
        expect(ids(await replay("u2", ["global"]))).toContain("global/old1");
      });

      it("deletes nothing that has not expired", async () => {
        await store.save(note("global", "n", { ttl: 10 }));
        expect(await store.expire(new Date(T0.getTime() + 9_999), 100)).toBe(0);
        expect(await store.expire(new Date(T0.getTime() + 10_000), 100)).toBe(1);
      });
    });
  });
}

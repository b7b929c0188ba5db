import type { HubConnection } from "@microsoft/signalr";
import { buildClient, collect, mintToken, sleep, startPostgres, TEST_JWT_SECRET, waitFor, type PostgresServer } from "@tidings/testkit";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { freshDataDir, startTidings, type TidingsProcess } from "./process.js";

interface Delivered {
  id: string;
  audienceId: string;
  isRead: boolean;
  body: unknown;
}

let seq = 0;
const persisted = (audienceType: number, audienceValue: string | undefined, extra: Record<string, unknown> = {}) => ({
  id: `p-${process.pid}-${++seq}`,
  type: "note",
  body: { seq },
  routing: { audienceType, ...(audienceValue === undefined ? {} : { audienceValue }) },
  metadata: { producer: "tests", isPersisted: true, ...extra },
});

const publish = (tidings: TidingsProcess, body: unknown) =>
  fetch(`${tidings.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });

const clients: HubConnection[] = [];
async function device(tidings: TidingsProcess, sub: string) {
  const c = buildClient(tidings.url, { token: await mintToken({ sub }) });
  clients.push(c);
  const notes = collect<Delivered>(c, "note");
  const readEvents = collect<{ eventId: string; audienceId: string; isRead: boolean; changedAt: string }>(c, "EventReadStatusChange");
  const deletedEvents = collect<{ eventId: string; isDeleted: boolean }>(c, "EventDeletedStatusChange");
  await c.start();
  return { c, notes, readEvents, deletedEvents };
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
});

const servers: PostgresServer[] = [];
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
});

/** Each test gets its own database: an empty data dir, or a fresh PostgreSQL server. */
const backends = [
  { name: "embedded PGlite", env: async (): Promise<Record<string, string>> => ({}) },
  {
    name: "PostgreSQL 15",
    env: async (): Promise<Record<string, string>> => {
      const server = await startPostgres();
      servers.push(server);
      return { TIDINGS_DATABASE_URL: server.url };
    },
  },
];

describe.each(backends)("persistence on $name", ({ env }) => {
  it("a persisted notification survives a full restart and is replayed; a live one is not", async () => {
    const dataDir = freshDataDir();
    const settings = { TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, TIDINGS_DATA_DIR: dataDir, ...(await env()) };
    const first = await startTidings(settings);
    const user = `restart-${seq}`;
    const kept = persisted(4, user);
    const live = { ...persisted(4, user), metadata: { producer: "tests" } };
    expect((await publish(first, [kept, live])).status).toBe(202);
    expect(await first.stop()).toBe(0);

    const second = await startTidings(settings);
    try {
      const d = await device(second, user);
      await waitFor(() => d.notes.length >= 1, 5000, "the replay");
      await sleep(300);
      expect(d.notes.map((n) => n.id)).toEqual([kept.id]);
      expect(d.notes[0]).toMatchObject({ audienceId: `user:${user}`, isRead: false, body: kept.body });
    } finally {
      await second.stop();
    }
  });

  it("syncs read and deleted state across a user's devices; other users keep their own state", async () => {
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...(await env()) });
    try {
      const a = await device(tidings, "sync-user");
      const b = await device(tidings, "sync-user");
      const other = await device(tidings, "sync-other");
      const global = persisted(1, undefined);
      const mine = persisted(4, "sync-user");
      expect((await publish(tidings, [global, mine])).status).toBe(202);
      // At least once: a notification published while a device's on-connect replay runs may arrive both
      // replayed and live (clients de-duplicate by id), so count distinct ids.
      const ids = (d: { notes: { id: string }[] }) => new Set(d.notes.map((n) => n.id)).size;
      await waitFor(() => ids(a) === 2 && ids(b) === 2 && ids(other) === 1);

      const started = Date.now();
      await a.c.invoke("MarkAsRead", "global", global.id);
      await waitFor(() => b.readEvents.length === 1, 1000, "device B's read event within 1 s");
      expect(Date.now() - started).toBeLessThan(1000);
      expect(b.readEvents[0]).toMatchObject({ eventId: global.id, audienceId: "global", isRead: true });
      expect(a.readEvents).toHaveLength(1); // the caller's own device too
      expect(other.readEvents).toHaveLength(0);
      await a.c.invoke("MarkAsRead", "global", global.id); // no change → no event
      await b.c.invoke("MarkAsDeleted", `user:sync-user`, mine.id);
      await waitFor(() => a.deletedEvents.length === 1 && b.deletedEvents.length === 1);
      await sleep(200);
      expect(a.readEvents).toHaveLength(1);

      // A new device of the user: global replayed as read, the deleted one never again.
      const c = await device(tidings, "sync-user");
      await waitFor(() => c.notes.length >= 1);
      await sleep(300);
      const ours = (notes: Delivered[]) => notes.filter((n) => n.id === global.id || n.id === mine.id).map((n) => [n.id, n.isRead]);
      expect(ours(c.notes)).toEqual([[global.id, true]]);
      // Another user: the global notification is still unread for them.
      const o2 = await device(tidings, "sync-other");
      await waitFor(() => o2.notes.length >= 1);
      expect(ours(o2.notes)).toEqual([[global.id, false]]);

      // The read API agrees.
      const list = (await (await fetch(`${tidings.url}/api/users/sync-user/notifications`)).json()) as {
        items: Delivered[];
        unreadCount: number;
        nextCursor: string | null;
      };
      expect(ours(list.items)).toEqual([[global.id, true]]);
      expect(list.unreadCount).toBe(0);
      const me = await fetch(`${tidings.url}/api/me/notifications?unread=true`, {
        headers: { authorization: `Bearer ${await mintToken({ sub: "sync-other" })}` },
      });
      expect(((await me.json()) as { unreadCount: number }).unreadCount).toBe(1);
      expect((await fetch(`${tidings.url}/api/me/notifications`)).status).toBe(401);
    } finally {
      await tidings.stop();
    }
  });

  it("stores and delivers a duplicate id once", async () => {
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...(await env()) });
    try {
      const d = await device(tidings, "dup-user");
      const n = persisted(4, "dup-user");
      expect((await publish(tidings, n)).status).toBe(202);
      expect((await publish(tidings, n)).status).toBe(202);
      // (on the shared PostgreSQL server, Global notifications of earlier tests are replayed too)
      const mine = () => d.notes.filter((x) => x.audienceId === "user:dup-user");
      await waitFor(() => mine().length >= 1);
      await sleep(300);
      expect(mine()).toHaveLength(1);
      const list = (await (await fetch(`${tidings.url}/api/users/dup-user/notifications`)).json()) as { items: Delivered[] };
      expect(list.items.map((i) => i.id)).toEqual([n.id]);
    } finally {
      await tidings.stop();
    }
  });

  it("MarkAsRead refuses unknown notifications, foreign audiences and anonymous callers with the contract's codes", async () => {
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...(await env()) });
    try {
      const d = await device(tidings, "err-user");
      await expect(d.c.invoke("MarkAsRead", "user:err-user", "nope")).rejects.toThrow(/HubException: NotFound: /);
      await expect(d.c.invoke("MarkAsRead", "user:someone-else", "x")).rejects.toThrow(/HubException: Forbidden: /);
      await expect(d.c.invoke("MarkAsRead", "user:err-user")).rejects.toThrow(
        /^Failed to invoke 'MarkAsRead' due to an error on the server\.$/,
      );
      const live = { ...persisted(4, "err-user"), metadata: { producer: "tests" } };
      expect((await publish(tidings, live)).status).toBe(202);
      await waitFor(() => d.notes.length === 1);
      await expect(d.c.invoke("MarkAsRead", "user:err-user", live.id)).rejects.toThrow(/HubException: NotFound: /);
    } finally {
      await tidings.stop();
    }
  });

  it("replays a group's stored notifications before the Subscribe completion", async () => {
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...(await env()) });
    try {
      const stored = [persisted(3, "replay-room"), persisted(3, "replay-room")];
      expect((await publish(tidings, stored)).status).toBe(202);
      const d = await device(tidings, "late-joiner");
      await d.c.invoke("Subscribe", { audienceType: 3, audienceValue: "replay-room" });
      // Already here when invoke resolved, oldest first.
      expect(d.notes.filter((n) => n.audienceId === "group:replay-room").map((n) => n.id)).toEqual(stored.map((s) => s.id));
    } finally {
      await tidings.stop();
    }
  });
});

describe("store unavailable", () => {
  it("answers 503 for persisted notifications and accepts nothing while PostgreSQL is down", async () => {
    const own = await startPostgres();
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, TIDINGS_DATABASE_URL: own.url });
    try {
      const d = await device(tidings, "down-user");
      await own.stop();
      const res = await publish(tidings, persisted(4, "down-user"));
      expect(res.status).toBe(503);
      expect(((await res.json()) as { error: string }).error).toBe("unavailable");
      await sleep(300);
      expect(d.notes).toHaveLength(0); // not reported accepted, not delivered
      // Live notifications need no store and still flow.
      expect((await publish(tidings, { ...persisted(4, "down-user"), metadata: { producer: "tests" } })).status).toBe(202);
      await waitFor(() => d.notes.length === 1);
    } finally {
      await tidings.stop();
    }
  });
});

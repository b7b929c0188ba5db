import { describe, expect, it } from "vitest";
import {
  BusNotificationStore,
  StoreUnavailableError,
  isPermanentStoreError,
  subjects,
  type Notification,
  type NotificationStore,
} from "@tidings/contracts";
import { MemoryBus } from "@tidings/bus";
import { createStoreResponder } from "./responder.js";

const now = new Date("2030-01-01T00:00:00.000Z");
const notification: Notification = {
  id: "n1",
  type: "invoice-ready",
  body: { amount: 1 },
  routing: { audienceType: 2, audienceValue: "t1", tenantId: "t1", audienceId: "tenant:t1" },
  metadata: { producer: "billing", timeStamp: now.toISOString(), isPersisted: true, persistedTTL: "2030-01-02T00:00:00.000Z" },
};

/** Records the arguments of every call and answers from `impl`, or rejects when it has none. */
function recordingStore(impl: Partial<NotificationStore> = {}): { store: NotificationStore; calls: unknown[][] } {
  const calls: unknown[][] = [];
  const method =
    <K extends keyof NotificationStore>(name: K) =>
    (...args: unknown[]) => {
      calls.push([name, ...args]);
      const fn = impl[name] as ((...a: unknown[]) => Promise<unknown>) | undefined;
      return fn === undefined ? Promise.reject(new Error(`${name} not scripted`)) : fn(...args);
    };
  const store = {
    save: method("save"),
    saveMany: method("saveMany"),
    replay: method("replay"),
    setState: method("setState"),
    listForUser: method("listForUser"),
    expire: method("expire"),
  } as NotificationStore;
  return { store, calls };
}

/** Sends raw bytes to an op and returns the decoded answer. */
async function raw(bus: MemoryBus, op: string, body: string): Promise<unknown> {
  const msg = await bus.request(subjects.storeRequest(op), new TextEncoder().encode(body), { timeoutMs: 1000 });
  return JSON.parse(new TextDecoder().decode(msg.data));
}

describe("createStoreResponder with BusNotificationStore", () => {
  it("hands each operation's arguments to the store, dates as Dates, and returns its answers", async () => {
    const bus = new MemoryBus();
    const page = { items: [], unreadCount: 2, nextCursor: "c" };
    const { store, calls } = recordingStore({
      save: async () => "stored",
      saveMany: async () => [
        { ok: true, result: "duplicate" },
        { ok: false, error: "refused" },
      ],
      replay: async () => [],
      setState: async () => ({ found: true, changed: true, changedAt: now.toISOString() }),
      listForUser: async () => page,
      expire: async () => 4,
    });
    const responder = createStoreResponder(bus, store);
    const client = new BusNotificationStore(bus, { timeoutMs: 1000 });

    expect(await client.save(notification)).toBe("stored");
    const second = { ...notification, id: "n2" };
    expect(await client.saveMany([notification, second])).toEqual([
      { ok: true, result: "duplicate" },
      { ok: false, error: "refused" },
    ]);
    expect(await client.replay({ userId: null, audiences: ["global", "tenant:t1"], limit: 50, now })).toEqual([]);
    expect(await client.setState({ userId: "u", audienceId: "global", notificationId: "n", now, read: false })).toEqual({
      found: true,
      changed: true,
      changedAt: now.toISOString(),
    });
    await client.setState({ userId: "u", audienceId: "global", notificationId: "n", now, deleted: true });
    expect(await client.listForUser({ userId: "u", audiences: ["user:u"], unreadOnly: true, limit: 10, cursor: null, now })).toEqual(page);
    expect(await client.expire(now, 100)).toBe(4);

    expect(calls).toEqual([
      ["save", notification],
      ["saveMany", [notification, second]],
      ["replay", { userId: null, audiences: ["global", "tenant:t1"], limit: 50, now }],
      ["setState", { userId: "u", audienceId: "global", notificationId: "n", now, read: false }],
      ["setState", { userId: "u", audienceId: "global", notificationId: "n", now, deleted: true }],
      ["listForUser", { userId: "u", audiences: ["user:u"], unreadOnly: true, limit: 10, cursor: null, now }],
      ["expire", now, 100],
    ]);
    await responder.close();
  });

  it("answers a store failure as unavailable and a RangeError as an invalid request", async () => {
    const bus = new MemoryBus();
    const { store } = recordingStore({
      save: async () => Promise.reject(new Error("connect ECONNREFUSED 127.0.0.1:5432")),
      listForUser: async () => Promise.reject(new RangeError("cursor is not valid")),
    });
    createStoreResponder(bus, store);
    const client = new BusNotificationStore(bus, { timeoutMs: 1000 });
    await expect(client.save(notification)).rejects.toThrow(new StoreUnavailableError("store save: connect ECONNREFUSED 127.0.0.1:5432"));
    const list = client.listForUser({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: "x", now });
    await expect(list).rejects.toThrow(new RangeError("store list: cursor is not valid"));
  });

  it("tells a row the database refuses for good (SQLSTATE class 22/23) from a transient failure, so the router can dead-letter the one and hold the other", async () => {
    const bus = new MemoryBus();
    const pgError = (code: string, message: string) => Object.assign(new Error(message), { code });
    const failures = [
      pgError("22P05", "unsupported Unicode escape sequence"),
      pgError("23514", 'new row for relation "notifications" violates check constraint "refuse_poison"'),
      pgError("57P01", "terminating connection due to administrator command"),
      pgError("ECONNREFUSED", "connect ECONNREFUSED 127.0.0.1:5432"),
    ];
    const { store } = recordingStore({ save: () => Promise.reject(failures.shift() ?? new Error("no more failures scripted")) });
    createStoreResponder(bus, store);
    const client = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const outcomes: Array<[string, boolean]> = [];
    for (let i = 0; i < 4; i++) {
      const err = await client.save(notification).then(
        () => null,
        (e: unknown) => e as Error,
      );
      outcomes.push([err!.name, isPermanentStoreError(err)]);
    }
    expect(outcomes).toEqual([
      ["StoreRefusedError", true],
      ["StoreRefusedError", true],
      ["StoreUnavailableError", false],
      ["StoreUnavailableError", false],
    ]);
    expect(isPermanentStoreError(new RangeError("store list: cursor is not valid"))).toBe(true);
  });

  it("answers ping with ok when the database answers, and unavailable when it does not", async () => {
    const bus = new MemoryBus();
    let dbUp = false;
    const { store, calls } = recordingStore();
    createStoreResponder(bus, store, { ping: () => (dbUp ? Promise.resolve() : Promise.reject(new Error("connect ECONNREFUSED"))) });
    const client = new BusNotificationStore(bus, { timeoutMs: 1000 });
    await expect(client.ping()).rejects.toThrow(new StoreUnavailableError("store ping: connect ECONNREFUSED"));
    dbUp = true;
    await expect(client.ping()).resolves.toBeUndefined();
    expect(calls).toEqual([]);
  });

  it("answers malformed requests with invalid_request and never calls the store", async () => {
    const bus = new MemoryBus();
    const { store, calls } = recordingStore();
    createStoreResponder(bus, store);
    const invalid = (error: string) => ({ error, code: "invalid_request" });
    expect(await raw(bus, "save", "{oops")).toEqual(invalid("the request body is not JSON"));
    expect(await raw(bus, "save", "[1]")).toEqual(invalid("the request body must be a JSON object"));
    expect(await raw(bus, "save", "{}")).toEqual(invalid("notification must be a JSON object"));
    const persistedOff = { ...notification, metadata: { ...notification.metadata, isPersisted: false } };
    expect(await raw(bus, "save", JSON.stringify({ notification: persistedOff }))).toEqual(
      invalid("notification.metadata.isPersisted must be true"),
    );
    const badType = { ...notification, routing: { ...notification.routing, audienceType: 9 } };
    expect(await raw(bus, "save", JSON.stringify({ notification: badType }))).toEqual(
      invalid("notification.routing.audienceType must be an integer from 1 to 5"),
    );
    const badTtl = { ...notification, metadata: { ...notification.metadata, persistedTTL: "soon" } };
    expect(await raw(bus, "save", JSON.stringify({ notification: badTtl }))).toEqual(invalid("persistedTTL must be an ISO-8601 date-time"));
    expect(await raw(bus, "replay", JSON.stringify({ userId: 5, audiences: [], limit: 1, now }))).toEqual(
      invalid("userId must be a string or null"),
    );
    expect(await raw(bus, "replay", JSON.stringify({ userId: null, audiences: [1], limit: 1, now }))).toEqual(
      invalid("audiences must be an array of strings"),
    );
    expect(await raw(bus, "replay", JSON.stringify({ userId: null, audiences: [], limit: 1.5, now }))).toEqual(
      invalid("limit must be an integer"),
    );
    const state = { userId: "u", audienceId: "a", notificationId: "n", now };
    expect(await raw(bus, "setState", JSON.stringify({ ...state, read: true, deleted: true }))).toEqual(
      invalid("setState takes either read or deleted, not both"),
    );
    expect(await raw(bus, "setState", JSON.stringify({ ...state, deleted: false }))).toEqual(invalid("deleted must be true when given"));
    expect(await raw(bus, "setState", JSON.stringify({ ...state, read: "yes" }))).toEqual(invalid("read must be true or false"));
    expect(
      await raw(bus, "list", JSON.stringify({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: null, now: "never" })),
    ).toEqual(invalid("now must be an ISO-8601 date-time"));
    expect(await raw(bus, "expire", JSON.stringify({ now }))).toEqual(invalid("batch must be an integer"));
    expect(calls).toEqual([]);
  });

  it("ignores a request without a reply subject, and close waits for requests in progress", async () => {
    const bus = new MemoryBus();
    let finish!: (n: number) => void;
    const { store, calls } = recordingStore({ expire: () => new Promise<number>((r) => (finish = r)) });
    const responder = createStoreResponder(bus, store);
    bus.publish(subjects.storeRequest("replay"), new TextEncoder().encode("not even json"));
    const client = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const expiring = client.expire(now, 10);
    await new Promise((r) => setTimeout(r, 20));
    expect(calls).toEqual([["expire", now, 10]]);
    let closed = false;
    const closing = responder.close().then(() => (closed = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(closed).toBe(false);
    finish(3);
    await closing;
    expect(await expiring).toBe(3);
    // Closed: nobody answers any more.
    await expect(client.expire(now, 10)).rejects.toThrow(/NoRespondersError/);
  });
});

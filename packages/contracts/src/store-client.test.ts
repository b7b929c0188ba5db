import { describe, expect, it } from "vitest";
import type { Bus, BusHeaders, BusMessage, BusSubscription } from "./interfaces.js";
import type { Notification } from "./envelope.js";
import { toDelivered } from "./delivered.js";
import { BusNotificationStore, StoreUnavailableError } from "./store-client.js";
import { subjects } from "./subjects.js";

/**
 * The least Bus that request-reply needs: exact subjects, answers through a reply subject,
 * NoResponders and Timeout as the interface names them. Stands in for MemoryBus in this unit test.
 */
class TinyBus implements Bus {
  readonly #subs = new Map<string, Set<(msg: BusMessage) => void | Promise<void>>>();
  #inbox = 0;

  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void {
    for (const handler of this.#subs.get(subject) ?? []) {
      void handler({ subject, data, headers: headers ?? null, reply: null });
    }
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>): BusSubscription {
    const set = this.#subs.get(subject) ?? new Set();
    set.add(handler);
    this.#subs.set(subject, set);
    return { subject, unsubscribe: () => void set.delete(handler) };
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number }): Promise<BusMessage> {
    const handlers = this.#subs.get(subject);
    if (handlers === undefined || handlers.size === 0) return Promise.reject(named("NoRespondersError", subject));
    const reply = `_INBOX.${++this.#inbox}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(named("TimeoutError", subject));
      }, opts.timeoutMs);
      const sub = this.subscribe(reply, (msg) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(msg);
      });
      for (const handler of handlers) void handler({ subject, data, headers: null, reply });
    });
  }

  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}

function named(name: string, subject: string): Error {
  const err = new Error(`${name} on ${subject}`);
  err.name = name;
  return err;
}

/** Answers every request on `op` with `answer(request body)`, JSON both ways; records requests. */
function respond(bus: TinyBus, op: string, answer: (body: Record<string, unknown>) => unknown): Record<string, unknown>[] {
  const seen: Record<string, unknown>[] = [];
  bus.subscribe(subjects.storeRequest(op), (msg) => {
    const body = JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
    seen.push(body);
    if (msg.reply !== null) bus.publish(msg.reply, new TextEncoder().encode(JSON.stringify(answer(body))));
  });
  return seen;
}

const notification: Notification = {
  id: "n1",
  type: "invoice-ready",
  body: { amount: 1 },
  routing: { audienceType: 4, audienceValue: "u1", tenantId: null, audienceId: "user:u1" },
  metadata: { producer: "billing", timeStamp: "2025-01-15T10:00:00.000Z", isPersisted: true, persistedTTL: "2025-01-16T10:00:00.000Z" },
};

describe("BusNotificationStore", () => {
  it("sends each operation to its subject with dates as ISO strings and returns the reply", async () => {
    const bus = new TinyBus();
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const now = new Date("2025-01-15T12:00:00.000Z");

    const saves = respond(bus, "save", () => ({ result: "duplicate" }));
    expect(await store.save(notification)).toBe("duplicate");
    expect(saves).toEqual([{ notification }]);

    const replays = respond(bus, "replay", () => ({ items: [toDelivered(notification, false)] }));
    expect(await store.replay({ userId: null, audiences: ["global"], limit: 5, now })).toEqual([toDelivered(notification, false)]);
    expect(replays).toEqual([{ userId: null, audiences: ["global"], limit: 5, now: now.toISOString() }]);

    const states = respond(bus, "setState", () => ({ found: true, changed: true, changedAt: now.toISOString() }));
    const base = { userId: "u1", audienceId: "user:u1", notificationId: "n1", now };
    expect(await store.setState({ ...base, read: false })).toEqual({ found: true, changed: true, changedAt: now.toISOString() });
    await store.setState({ ...base, deleted: true });
    expect(states).toEqual([
      { userId: "u1", audienceId: "user:u1", notificationId: "n1", now: now.toISOString(), read: false },
      { userId: "u1", audienceId: "user:u1", notificationId: "n1", now: now.toISOString(), deleted: true },
    ]);

    const lists = respond(bus, "list", () => ({ items: [], unreadCount: 3, nextCursor: "c2" }));
    const page = await store.listForUser({ userId: "u1", audiences: ["user:u1"], unreadOnly: true, limit: 2, cursor: "c1", now });
    expect(page).toEqual({ items: [], unreadCount: 3, nextCursor: "c2" });
    expect(lists[0]).toEqual({ userId: "u1", audiences: ["user:u1"], unreadOnly: true, limit: 2, cursor: "c1", now: now.toISOString() });

    const expires = respond(bus, "expire", () => ({ count: 7 }));
    expect(await store.expire(now, 10)).toBe(7);
    expect(expires).toEqual([{ now: now.toISOString(), batch: 10 }]);
  });

  it("rejects with StoreUnavailableError when nobody answers the subject", async () => {
    const store = new BusNotificationStore(new TinyBus(), { timeoutMs: 1000 });
    const err: unknown = await store.save(notification).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toMatch(/NoRespondersError/);
    expect((err as StoreUnavailableError).noResponders).toBe(true);
  });

  it("rejects with StoreUnavailableError after the timeout when the store stays silent", async () => {
    const bus = new TinyBus();
    bus.subscribe(subjects.storeRequest("save"), () => {});
    const store = new BusNotificationStore(bus, { timeoutMs: 50 });
    const started = Date.now();
    const err: unknown = await store.save(notification).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StoreUnavailableError);
    expect((err as Error).message).toBe("store save: no answer within 50 ms");
    expect((err as StoreUnavailableError).noResponders).toBe(false);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it("rejects with StoreUnavailableError on an unavailable error reply, and RangeError on an invalid request", async () => {
    const bus = new TinyBus();
    respond(bus, "save", () => ({ error: "connection refused", code: "unavailable" }));
    respond(bus, "list", () => ({ error: "cursor is not valid", code: "invalid_request" }));
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    await expect(store.save(notification)).rejects.toThrow(new StoreUnavailableError("store save: connection refused"));
    const list = store.listForUser({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: "x", now: new Date() });
    const err: unknown = await list.catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RangeError);
    expect((err as Error).message).toBe("store list: cursor is not valid");
  });

  it("never reports a save as stored unless the reply says so", async () => {
    for (const reply of [{}, { result: "STORED" }, { result: true }, [], "stored", null]) {
      const bus = new TinyBus();
      respond(bus, "save", () => reply);
      const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
      await expect(store.save(notification)).rejects.toBeInstanceOf(StoreUnavailableError);
    }
    const bus = new TinyBus();
    bus.subscribe(subjects.storeRequest("save"), (msg) => bus.publish(msg.reply!, new TextEncoder().encode("{not json")));
    await expect(new BusNotificationStore(bus, { timeoutMs: 1000 }).save(notification)).rejects.toThrow(
      "store save: the reply is not JSON",
    );
  });

  it("rejects malformed replies of the other operations", async () => {
    const bus = new TinyBus();
    respond(bus, "replay", () => ({ items: "none" }));
    respond(bus, "setState", () => ({ found: true, changed: "yes", changedAt: "now" }));
    respond(bus, "list", () => ({ items: [], unreadCount: 1, nextCursor: 5 }));
    respond(bus, "expire", () => ({ count: "3" }));
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const now = new Date();
    await expect(store.replay({ userId: "u", audiences: ["global"], limit: 1, now })).rejects.toBeInstanceOf(StoreUnavailableError);
    await expect(store.setState({ userId: "u", audienceId: "global", notificationId: "n", now, read: true })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(store.listForUser({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: null, now })).rejects.toBeInstanceOf(
      StoreUnavailableError,
    );
    await expect(store.expire(now, 1)).rejects.toBeInstanceOf(StoreUnavailableError);
  });

  it("saveMany sends one request for the batch and returns each notification's outcome", async () => {
    const bus = new TinyBus();
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const batches = respond(bus, "saveMany", () => ({ outcomes: [{ result: "stored" }, { error: "refused n2" }] }));
    const singles = respond(bus, "save", () => ({ result: "stored" }));
    expect(await store.saveMany([notification, { ...notification, id: "n2" }])).toEqual([
      { ok: true, result: "stored" },
      { ok: false, error: "refused n2" },
    ]);
    expect(batches).toHaveLength(1);
    expect(singles).toHaveLength(0);
    expect(await store.saveMany([])).toEqual([]);
  });

  it("saveMany falls back to one save per notification when no store replica serves batches (an older store)", async () => {
    const bus = new TinyBus();
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const singles = respond(bus, "save", (body) =>
      (body["notification"] as Notification).id === "n2" ? { error: "bad row", code: "refused" } : { result: "stored" },
    );
    const outcomes = await store.saveMany([notification, { ...notification, id: "n2" }, { ...notification, id: "n3" }]);
    expect(outcomes).toEqual([
      { ok: true, result: "stored" },
      { ok: false, error: "store save: bad row" },
      { ok: true, result: "stored" },
    ]);
    expect(singles.map((b) => (b["notification"] as Notification).id)).toEqual(["n1", "n2", "n3"]);
  });

  it("saveMany narrows a refusal of the whole request down to the refused notification", async () => {
    const bus = new TinyBus();
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    respond(bus, "saveMany", () => ({ error: "notifications[1].metadata.isPersisted must be true", code: "invalid_request" }));
    respond(bus, "save", (body) =>
      (body["notification"] as Notification).id === "n2" ? { error: "not persisted", code: "invalid_request" } : { result: "duplicate" },
    );
    expect(await store.saveMany([notification, { ...notification, id: "n2" }])).toEqual([
      { ok: true, result: "duplicate" },
      { ok: false, error: "store save: not persisted" },
    ]);
    expect(await store.saveMany([notification])).toEqual([
      { ok: false, error: "store saveMany: notifications[1].metadata.isPersisted must be true" },
    ]);
  });

  it("saveMany rejects as a whole when the store is unavailable or answers the wrong number of outcomes", async () => {
    const bus = new TinyBus();
    const store = new BusNotificationStore(bus, { timeoutMs: 1000 });
    const sub = bus.subscribe(subjects.storeRequest("saveMany"), (msg) => {
      if (msg.reply !== null)
        bus.publish(msg.reply, new TextEncoder().encode(JSON.stringify({ error: "database down", code: "unavailable" })));
    });
    await expect(store.saveMany([notification])).rejects.toThrow(StoreUnavailableError);
    sub.unsubscribe();
    respond(bus, "saveMany", () => ({ outcomes: [] }));
    await expect(store.saveMany([notification])).rejects.toThrow("store saveMany: 0 outcomes for 1 notifications");
  });
});

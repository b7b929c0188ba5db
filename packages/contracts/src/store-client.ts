/**
 * The store over the bus: request-reply on `subjects.storeRequest(op)` (docs/architecture.md §5).
 * `BusNotificationStore` is what gateways and routers hold when the store runs as its own
 * service; the store service answers with `createStoreResponder` (`@tidings/store`). Bodies are
 * UTF-8 JSON; dates travel as ISO-8601 strings.
 */
import type { DeliveredNotification } from "./delivered.js";
import type { Notification } from "./envelope.js";
import type { Bus, ListPage, ListQuery, NotificationStore, ReplayQuery, SaveResult, StateChange, StateChangeResult } from "./interfaces.js";
import { subjects } from "./subjects.js";

/** The request-reply operations, one subject each (`tidings.v1.store.<op>`). */
export const STORE_OPS = ["save", "replay", "setState", "list", "expire", "ping"] as const;
export type StoreOp = (typeof STORE_OPS)[number];

/** Request bodies by operation: the `NotificationStore` arguments with dates as ISO strings. */
export interface StoreRequests {
  save: { notification: Notification };
  replay: { userId: string | null; audiences: readonly string[]; limit: number; now: string; since?: string };
  setState:
    | { userId: string; audienceId: string; notificationId: string; now: string; read: boolean }
    | { userId: string; audienceId: string; notificationId: string; now: string; deleted: true };
  list: { userId: string; audiences: readonly string[]; unreadOnly: boolean; limit: number; cursor: string | null; now: string };
  expire: { now: string; batch: number };
  ping: Record<string, never>;
}

/** Successful reply bodies by operation. */
export interface StoreReplies {
  save: { result: SaveResult };
  replay: { items: DeliveredNotification[] };
  setState: StateChangeResult;
  list: ListPage;
  expire: { count: number };
  ping: { ok: true };
}

/**
 * A refused request. `invalid_request`: the arguments were malformed (the caller's fault; retrying
 * the same request fails again). `refused`: the database refuses this data for good (a data or
 * integrity error: retrying the same row fails again). `unavailable`: the store could not do it
 * now (database down, connection lost, …); the same request may succeed later.
 */
export interface StoreErrorReply {
  error: string;
  code: "invalid_request" | "refused" | "unavailable";
}

/**
 * The store did not answer, answered with an error, or answered something unreadable. The
 * operation may or may not have happened (request-reply is at most once); a `save` that rejects
 * with this was never reported stored, so the producer must be told to retry (HTTP 503).
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
}

/**
 * The store answered, and refuses this data for good (e.g. the database rejects the row as a data
 * or integrity error). Retrying the same request fails again: the caller must give it up.
 */
export class StoreRefusedError extends Error {
  override readonly name = "StoreRefusedError";
}

/**
 * True when retrying the same store call cannot succeed: the store refused the data
 * (`StoreRefusedError`) or the arguments (`RangeError`). Anything else is transient.
 */
export function isPermanentStoreError(err: unknown): boolean {
  return err instanceof Error && (err.name === "StoreRefusedError" || err instanceof RangeError);
}

const SAVE_RESULTS: ReadonlySet<string> = new Set<SaveResult>(["stored", "duplicate", "expired"]);

const encoder = new TextEncoder();
const decoder = new TextDecoder();

export interface BusNotificationStoreOptions {
  /** How long to wait for the store's answer (TIDINGS_FORWARD_TIMEOUT_SECONDS in the cluster). */
  timeoutMs: number;
}

/**
 * `NotificationStore` over request-reply. Rejects with `StoreUnavailableError` on a timeout, when
 * no store is subscribed, on an `unavailable` error reply and on a malformed reply; with a
 * `RangeError` on an `invalid_request` reply, as `PostgresNotificationStore` does for the same
 * arguments; with `StoreRefusedError` on a `refused` reply.
 */
export class BusNotificationStore implements NotificationStore {
  readonly #bus: Bus;
  readonly #timeoutMs: number;

  constructor(bus: Bus, opts: BusNotificationStoreOptions) {
    this.#bus = bus;
    this.#timeoutMs = opts.timeoutMs;
  }

  async save(n: Notification): Promise<SaveResult> {
    const reply = await this.#call("save", { notification: n });
    const result = reply["result"];
    // Anything but a known result must not be mistaken for "stored".
    if (typeof result !== "string" || !SAVE_RESULTS.has(result)) throw malformed("save");
    return result as SaveResult;
  }

  async replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    const reply = await this.#call("replay", {
      userId: q.userId,
      audiences: q.audiences,
      limit: q.limit,
      now: q.now.toISOString(),
      ...(q.since === undefined ? {} : { since: q.since.toISOString() }),
    });
    const items = reply["items"];
    if (!Array.isArray(items)) throw malformed("replay");
    return items as DeliveredNotification[];
  }

  async setState(q: StateChange): Promise<StateChangeResult> {
    const base = { userId: q.userId, audienceId: q.audienceId, notificationId: q.notificationId, now: q.now.toISOString() };
    const body: StoreRequests["setState"] = q.deleted === true ? { ...base, deleted: true } : { ...base, read: q.read };
    const reply = await this.#call("setState", body);
    if (typeof reply["found"] !== "boolean" || typeof reply["changed"] !== "boolean" || typeof reply["changedAt"] !== "string") {
      throw malformed("setState");
    }
    return { found: reply["found"], changed: reply["changed"], changedAt: reply["changedAt"] };
  }

  async listForUser(q: ListQuery): Promise<ListPage> {
    const reply = await this.#call("list", {
      userId: q.userId,
      audiences: q.audiences,
      unreadOnly: q.unreadOnly,
      limit: q.limit,
      cursor: q.cursor,
      now: q.now.toISOString(),
    });
    const { items, unreadCount, nextCursor } = reply;
    if (!Array.isArray(items) || typeof unreadCount !== "number" || (nextCursor !== null && typeof nextCursor !== "string")) {
      throw malformed("list");
    }
    return { items: items as DeliveredNotification[], unreadCount, nextCursor };
  }

  async expire(now: Date, batch: number): Promise<number> {
    const reply = await this.#call("expire", { now: now.toISOString(), batch });
    const count = reply["count"];
    if (typeof count !== "number") throw malformed("expire");
    return count;
  }

  /**
   * A cheap health request: resolves when a store replica answers that its database is reachable,
   * rejects with `StoreUnavailableError` otherwise. Waits at most `timeoutMs` (default: the store
   * timeout, at most 2 s, so a prober is not stuck on a store that does not answer).
   */
  async ping(timeoutMs: number = Math.min(2000, this.#timeoutMs)): Promise<void> {
    const reply = await this.#call("ping", {}, timeoutMs);
    if (reply["ok"] !== true) throw malformed("ping");
  }

  async #call<Op extends StoreOp>(op: Op, body: StoreRequests[Op], timeoutMs: number = this.#timeoutMs): Promise<Record<string, unknown>> {
    let data: Uint8Array;
    try {
      const msg = await this.#bus.request(subjects.storeRequest(op), encoder.encode(JSON.stringify(body)), { timeoutMs });
      data = msg.data;
    } catch (err) {
      const reason = err instanceof Error && err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : errorText(err);
      throw new StoreUnavailableError(`store ${op}: ${reason}`, { cause: err });
    }
    let reply: unknown;
    try {
      reply = JSON.parse(decoder.decode(data));
    } catch (err) {
      throw new StoreUnavailableError(`store ${op}: the reply is not JSON`, { cause: err });
    }
    if (typeof reply !== "object" || reply === null || Array.isArray(reply)) throw malformed(op);
    const fields = reply as Record<string, unknown>;
    const error = fields["error"];
    if (error !== undefined) {
      const text = typeof error === "string" ? error : "unknown error";
      if (fields["code"] === "invalid_request") throw new RangeError(`store ${op}: ${text}`);
      if (fields["code"] === "refused") throw new StoreRefusedError(`store ${op}: ${text}`);
      throw new StoreUnavailableError(`store ${op}: ${text}`);
    }
    return fields;
  }
}

function malformed(op: StoreOp): StoreUnavailableError {
  return new StoreUnavailableError(`store ${op}: the reply does not have the expected shape`);
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.name === "Error" ? err.message : `${err.name}: ${err.message}`;
  return String(err);
}

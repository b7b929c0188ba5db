/**
 * `MemoryNotificationStore`: the `NotificationStore` contract held in one process's memory, for
 * unit tests of the services that use a store. Nothing survives the process. It lives here, next to
 * the interface, because services never import each other: router and gateway tests can use it
 * without depending on the store service. It passes the same conformance suite as the PostgreSQL
 * store (`@tidings/testkit`), including text ordering by code point as the database's "C" collation.
 */
import { toDelivered, type DeliveredNotification } from "./delivered.js";
import type { Notification } from "./envelope.js";
import type {
  ListPage,
  ListQuery,
  NotificationStore,
  ReplayQuery,
  SaveOutcome,
  SaveResult,
  StateChange,
  StateChangeResult,
} from "./interfaces.js";
import { storeArguments, type ListCursor } from "./store-arguments.js";

export interface MemoryNotificationStoreOptions {
  /** The store's clock, against which `save` decides "expired". Default: the system clock. */
  clock?: () => Date;
}

/** One user's state of one notification; no receipt means unread and not deleted. */
interface Receipt {
  isRead: boolean;
  readAt: Date | null;
  deletedAt: Date | null;
}

/** Where a row sorts: by (timeStamp, id, audienceId), the time in ms. */
interface SortKey {
  readonly timeStamp: number;
  readonly id: string;
  readonly audienceId: string;
}

interface Row extends SortKey {
  /** Normalised as the database returns it: dates in ISO-8601 UTC, body as JSON. */
  readonly n: Notification;
  readonly expiresAt: number;
  /** When this store saved it, by its clock (what `since` is measured against). */
  readonly receivedAt: number;
  /** By user id. */
  readonly receipts: Map<string, Receipt>;
}

/** Orders strings by code point, as PostgreSQL's "C" collation orders UTF-8 text. */
function compareText(a: string, b: string): number {
  return a === b ? 0 : Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/** Oldest first by (timeStamp, id, audienceId): the replay order. */
function compareRows(a: SortKey, b: SortKey): number {
  return a.timeStamp - b.timeStamp || compareText(a.id, b.id) || compareText(a.audienceId, b.audienceId);
}

export class MemoryNotificationStore implements NotificationStore {
  readonly #clock: () => Date;
  /** Audience key → notification id → row. */
  readonly #audiences = new Map<string, Map<string, Row>>();

  constructor(opts: MemoryNotificationStoreOptions = {}) {
    this.#clock = opts.clock ?? (() => new Date());
  }

  /** How many notifications are stored, expired ones not yet swept included. */
  get size(): number {
    let size = 0;
    for (const rows of this.#audiences.values()) size += rows.size;
    return size;
  }

  /** Removes every notification and receipt. */
  clear(): void {
    this.#audiences.clear();
  }

  /** True when (audience, id) is stored, expired and not yet swept included. */
  has(audienceId: string, id: string): boolean {
    return this.#audiences.get(audienceId)?.has(id) ?? false;
  }

  /** The stored notification (audience, id) as `save` stored it, or undefined. */
  get(audienceId: string, id: string): Notification | undefined {
    return this.#audiences.get(audienceId)?.get(id)?.n;
  }

  async save(n: Notification): Promise<SaveResult> {
    const { timeStamp, expiresAt } = storeArguments.persisted(n);
    const receivedAt = this.#clock().getTime();
    if (expiresAt.getTime() <= receivedAt) return "expired";
    const key = n.routing.audienceId;
    const rows = this.#audiences.get(key) ?? new Map<string, Row>();
    this.#audiences.set(key, rows);
    if (rows.has(n.id)) return "duplicate";
    rows.set(n.id, {
      n: {
        id: n.id,
        type: n.type,
        // A JSON copy: what a caller does to its object later does not change what was stored.
        body: JSON.parse(JSON.stringify(n.body ?? null)) as unknown,
        routing: { ...n.routing },
        metadata: {
          producer: n.metadata.producer,
          timeStamp: timeStamp.toISOString(),
          isPersisted: true,
          persistedTTL: expiresAt.toISOString(),
        },
      },
      timeStamp: timeStamp.getTime(),
      id: n.id,
      audienceId: key,
      expiresAt: expiresAt.getTime(),
      receivedAt,
      receipts: new Map(),
    });
    return "stored";
  }

  async saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    const outcomes: SaveOutcome[] = [];
    for (const n of ns) {
      try {
        outcomes.push({ ok: true, result: await this.save(n) });
      } catch (err) {
        // Invalid arguments refuse that notification only, as the database refuses one row.
        if (!(err instanceof RangeError)) throw err;
        outcomes.push({ ok: false, error: err.message });
      }
    }
    return outcomes;
  }

  async replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    storeArguments.keys(q);
    const limit = storeArguments.count(q.limit, "limit");
    const since = q.since === undefined ? null : storeArguments.date(q.since, "since").getTime();
    const rows = [...new Set(q.audiences)].flatMap((key) =>
      this.#newestVisible(key, q.userId, q.now, limit, (row) => since === null || row.receivedAt >= since),
    );
    return rows.sort(compareRows).map((row) => delivered(row, q.userId));
  }

  async setState(q: StateChange): Promise<StateChangeResult> {
    storeArguments.keys(q);
    const now = storeArguments.date(q.now, "now");
    const row = this.#audiences.get(q.audienceId)?.get(q.notificationId);
    if (row === undefined || row.expiresAt <= now.getTime()) return { found: false, changed: false, changedAt: now.toISOString() };
    // No await from here on: the check and the change are one step, so of two identical
    // concurrent calls exactly one changes the state. Deletion is final.
    const receipt = row.receipts.get(q.userId);
    let changed = false;
    if (receipt?.deletedAt == null) {
      if (q.deleted === true) {
        row.receipts.set(q.userId, { isRead: receipt?.isRead ?? false, readAt: receipt?.readAt ?? null, deletedAt: now });
        changed = true;
      } else if (q.read !== (receipt?.isRead ?? false)) {
        row.receipts.set(q.userId, { isRead: q.read, readAt: now, deletedAt: null });
        changed = true;
      }
    }
    const since = q.deleted === true ? receipt?.deletedAt : receipt?.readAt;
    return { found: true, changed, changedAt: (changed ? now : (since ?? now)).toISOString() };
  }

  async listForUser(q: ListQuery): Promise<ListPage> {
    storeArguments.keys(q);
    const limit = storeArguments.positive(q.limit, "limit");
    const cursor = q.cursor === null ? null : sortKeyOf(storeArguments.decodeCursor(q.cursor));
    const audiences = [...new Set(q.audiences)];
    const isRead = (row: Row) => row.receipts.get(q.userId)?.isRead ?? false;
    // Strictly after the cursor in the newest-first order.
    const afterCursor = (row: Row) => cursor === null || compareRows(row, cursor) < 0;
    const keep = (row: Row) => (!q.unreadOnly || !isRead(row)) && afterCursor(row);
    const rows = audiences.flatMap((key) => this.#newestVisible(key, q.userId, q.now, limit + 1, keep));
    rows.sort((a, b) => compareRows(b, a));
    const page = rows.slice(0, limit);
    const unreadCount = audiences.reduce(
      (sum, key) => sum + this.#newestVisible(key, q.userId, q.now, Number.MAX_SAFE_INTEGER, (row) => !isRead(row)).length,
      0,
    );
    const last = page.at(-1);
    return {
      items: page.map((row) => delivered(row, q.userId)),
      unreadCount,
      nextCursor:
        rows.length > limit && last !== undefined
          ? storeArguments.encodeCursor({ timeStamp: new Date(last.timeStamp), id: last.id, audienceId: last.audienceId })
          : null,
    };
  }

  async expire(now: Date, batch: number): Promise<number> {
    const at = storeArguments.date(now, "now").getTime();
    const size = storeArguments.positive(batch, "batch");
    const expired = [...this.#audiences.values()]
      .flatMap((rows) => [...rows.values()])
      .filter((row) => row.expiresAt <= at)
      .sort((a, b) => a.expiresAt - b.expiresAt)
      .slice(0, size);
    // A row's receipts go with it.
    for (const row of expired) this.#audiences.get(row.audienceId)!.delete(row.id);
    return expired.length;
  }

  /** The newest `limit` rows of one audience that are unexpired at `now`, not deleted by `userId`, and `keep`. */
  #newestVisible(audienceId: string, userId: string | null, now: Date, limit: number, keep: (row: Row) => boolean): Row[] {
    const at = now.getTime();
    const visible = [...(this.#audiences.get(audienceId)?.values() ?? [])].filter(
      (row) => row.expiresAt > at && (userId === null || row.receipts.get(userId)?.deletedAt == null) && keep(row),
    );
    return visible.sort((a, b) => compareRows(b, a)).slice(0, limit);
  }
}

/** A fresh copy of the row as delivered to `userId` (anonymous: never read). */
function delivered(row: Row, userId: string | null): DeliveredNotification {
  const { n } = row;
  const copy: Notification = {
    ...n,
    body: JSON.parse(JSON.stringify(n.body)) as unknown,
    routing: { ...n.routing },
    metadata: { ...n.metadata },
  };
  return toDelivered(copy, userId === null ? false : (row.receipts.get(userId)?.isRead ?? false));
}

function sortKeyOf(c: ListCursor): SortKey {
  return { timeStamp: c.timeStamp.getTime(), id: c.id, audienceId: c.audienceId };
}

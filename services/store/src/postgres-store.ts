/*
 * Over 300 lines: one SQL statement per store operation, kept together so every query against the schema
 * (migrations in migrations/) can be read and indexed-checked in one place.
 */
import type { Sql } from "postgres";
import {
  storeArguments,
  toDelivered,
  type AudienceTypeValue,
  type DeliveredNotification,
  type ListPage,
  type ListQuery,
  type Notification,
  type NotificationStore,
  type ReplayQuery,
  type SaveOutcome,
  type SaveResult,
  type StateChange,
  type StateChangeResult,
} from "@tidings/contracts";
import { isPermanentStoreFailure, isRefusedByDatabase } from "./refused.js";

export interface PostgresStoreOptions {
  /** The store's clock, against which `save` decides "expired". Default: the system clock. */
  clock?: () => Date;
}

/** A notification to insert: its place in the caller's batch and its validated dates. */
interface PendingRow {
  index: number;
  n: Notification;
  timeStamp: Date;
  expiresAt: Date;
}

/** The key of an inserted row, as RETURNING gives it. */
interface InsertedKey {
  audience_id: string;
  id: string;
}

/** A notifications row as read back, with the reading user's read flag. */
interface NotificationRow {
  audience_id: string;
  id: string;
  type: string;
  body: unknown;
  audience_type: number;
  audience_value: string;
  tenant_id: string | null;
  producer: string;
  time_stamp: Date;
  expires_at: Date;
  is_read: boolean;
}

/**
 * `NotificationStore` on PostgreSQL through the `postgres` driver. The same SQL runs on a real
 * server and on embedded PGlite. The schema is `migrations/`; run `migrate` first. The store does
 * not own `sql`: whoever created the pool ends it.
 *
 * Invalid arguments (a limit below 1, an unreadable cursor, a date that is not one, a key with NUL) reject with a
 * `RangeError`; anything else that rejects is the database's failure.
 */
export class PostgresNotificationStore implements NotificationStore {
  readonly #sql: Sql;
  readonly #clock: () => Date;

  constructor(sql: Sql, opts: PostgresStoreOptions = {}) {
    this.#sql = sql;
    this.#clock = opts.clock ?? (() => new Date());
  }

  async save(n: Notification): Promise<SaveResult> {
    const { timeStamp, expiresAt } = storeArguments.persisted(n);
    if (expiresAt.getTime() <= this.#clock().getTime()) return "expired";
    const inserted = await this.#insert([{ index: 0, n, timeStamp, expiresAt }]);
    return inserted.length === 1 ? "stored" : "duplicate";
  }

  /**
   * One INSERT (`#insert`) for every notification not expired. The statement is atomic: when the
   * database refuses the data of one row, nothing was stored, and each notification is saved on its own
   * so only the refused ones fail.
   */
  async saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    const outcomes: SaveOutcome[] = new Array<SaveOutcome>(ns.length);
    const now = this.#clock().getTime();
    const rows: PendingRow[] = [];
    ns.forEach((n, index) => {
      let dates: { timeStamp: Date; expiresAt: Date };
      try {
        dates = storeArguments.persisted(n);
      } catch (err) {
        if (!(err instanceof RangeError)) throw err;
        outcomes[index] = { ok: false, error: err.message };
        return;
      }
      if (dates.expiresAt.getTime() <= now) outcomes[index] = { ok: true, result: "expired" };
      else rows.push({ index, n, ...dates });
    });
    if (rows.length === 0) return outcomes;
    let inserted: InsertedKey[];
    try {
      inserted = await this.#insert(rows);
    } catch (err) {
      if (!isRefusedByDatabase(err)) throw err;
      for (const r of rows) outcomes[r.index] = await this.#saveAlone(r.n);
      return outcomes;
    }
    // The same (audience, id) twice in one batch is inserted once: the first is stored, the rest duplicates.
    const fresh = new Set(inserted.map((row) => rowKey(row.audience_id, row.id)));
    for (const r of rows) {
      const stored = fresh.delete(rowKey(r.n.routing.audienceId, r.n.id));
      outcomes[r.index] = { ok: true, result: stored ? "stored" : "duplicate" };
    }
    return outcomes;
  }

  /**
   * The one INSERT of `save` and `saveMany`: ON CONFLICT DO NOTHING, committed before the promise resolves
   * (autocommit), so a returned key is durable; RETURNING names the rows inserted, the others were
   * duplicates. Columns travel as one array parameter each (unnest), so the statement's text does not
   * depend on the row count; a missing body is SQL NULL. A refusal rejects with the database's error.
   */
  #insert(rows: readonly PendingRow[]): Promise<InsertedKey[]> {
    return this.#sql<InsertedKey[]>`
      INSERT INTO notifications
        (audience_id, id, type, body, audience_type, audience_value, tenant_id, producer, time_stamp, expires_at)
      SELECT * FROM unnest(
        ${rows.map((r) => r.n.routing.audienceId)}::text[], ${rows.map((r) => r.n.id)}::text[], ${rows.map((r) => r.n.type)}::text[],
        ${rows.map((r) => (r.n.body == null ? null : JSON.stringify(r.n.body)))}::text[]::jsonb[],
        ${rows.map((r) => String(r.n.routing.audienceType))}::text[]::smallint[], ${rows.map((r) => r.n.routing.audienceValue)}::text[],
        ${rows.map((r) => r.n.routing.tenantId)}::text[], ${rows.map((r) => r.n.metadata.producer)}::text[],
        ${rows.map((r) => r.timeStamp.toISOString())}::text[]::timestamptz[], ${rows.map((r) => r.expiresAt.toISOString())}::text[]::timestamptz[])
      ON CONFLICT (audience_id, id) DO NOTHING
      RETURNING audience_id, id`;
  }

  /** `save` as an outcome: a refusal of this row is its outcome, anything else rejects. */
  async #saveAlone(n: Notification): Promise<SaveOutcome> {
    try {
      return { ok: true, result: await this.save(n) };
    } catch (err) {
      if (!isPermanentStoreFailure(err)) throw err;
      return { ok: false, error: err instanceof Error ? err.message : String(err) };
    }
  }

  async replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    storeArguments.keys(q);
    const audiences = [...new Set(q.audiences)];
    const limit = storeArguments.count(q.limit, "limit");
    if (audiences.length === 0 || limit === 0) return [];
    // Per audience: a backward scan of notifications_replay_idx that stops after `limit` rows the
    // user has not deleted; then the small merged set is sorted oldest first. An anonymous
    // (null) user matches no receipt, so nothing is skipped and nothing is read.
    const rows = await this.#sql<NotificationRow[]>`
      SELECT n.*
      ${this.#newestVisible(audiences, q.userId, q.now, limit, q.since === undefined ? this.#sql`` : this.#sql`AND n.created_at >= ${storeArguments.date(q.since, "since")}`)}
      ORDER BY n.time_stamp, n.id, n.audience_id`;
    return rows.map(delivered);
  }

  /**
   * `FROM … n`: per audience, a backward scan of notifications_replay_idx returning the newest `limit`
   * unexpired rows `userId` has not deleted (matching `extra` conditions), with that user's read flag.
   * Replay and the read API share this one visibility rule.
   */
  #newestVisible(audiences: string[], userId: string | null, now: Date, limit: number, extra: ReturnType<Sql>) {
    return this.#sql`
      FROM unnest(${audiences}::text[]) AS a(audience_id)
      CROSS JOIN LATERAL (
        SELECT n.audience_id, n.id, n.type, n.body, n.audience_type, n.audience_value, n.tenant_id, n.producer,
               n.time_stamp, n.expires_at, coalesce(r.is_read, false) AS is_read
        FROM notifications n
        LEFT JOIN receipts r
          ON r.user_id = ${userId} AND r.audience_id = n.audience_id AND r.notification_id = n.id
        WHERE n.audience_id = a.audience_id
          AND n.expires_at > ${now}
          AND r.is_deleted IS NOT TRUE
          ${extra}
        ORDER BY n.time_stamp DESC, n.id DESC
        LIMIT ${limit}
      ) n`;
  }

  async setState(q: StateChange): Promise<StateChangeResult> {
    const now = q.now;
    storeArguments.keys(q);
    storeArguments.date(now, "now");
    return this.#sql.begin(async (tx) => {
      // FOR KEY SHARE holds off the sweeper (its FOR UPDATE SKIP LOCKED passes this row by) until
      // the receipt is written, so a receipt is never written for a row being deleted.
      const [notification] = await tx`
        SELECT 1 FROM notifications
        WHERE audience_id = ${q.audienceId} AND id = ${q.notificationId} AND expires_at > ${now}
        FOR KEY SHARE`;
      if (notification === undefined) return { found: false, changed: false, changedAt: now.toISOString() };

      // Each statement below changes the receipt only when its state differs, under the row lock
      // that INSERT … ON CONFLICT and UPDATE take: of two identical concurrent calls, the second
      // waits for the first and then finds nothing to change. Deletion is final, so nothing
      // changes a deleted receipt.
      let changed: boolean;
      if (q.deleted === true) {
        const r = await tx`
          INSERT INTO receipts (user_id, audience_id, notification_id, is_deleted, deleted_at)
          VALUES (${q.userId}, ${q.audienceId}, ${q.notificationId}, true, ${now})
          ON CONFLICT (user_id, audience_id, notification_id) DO UPDATE
            SET is_deleted = true, deleted_at = excluded.deleted_at
            WHERE NOT receipts.is_deleted`;
        changed = r.count === 1;
      } else if (q.read) {
        const r = await tx`
          INSERT INTO receipts (user_id, audience_id, notification_id, is_read, read_at)
          VALUES (${q.userId}, ${q.audienceId}, ${q.notificationId}, true, ${now})
          ON CONFLICT (user_id, audience_id, notification_id) DO UPDATE
            SET is_read = true, read_at = excluded.read_at
            WHERE NOT receipts.is_read AND NOT receipts.is_deleted`;
        changed = r.count === 1;
      } else {
        // Unread is the state without a receipt: only an existing read receipt can change.
        const r = await tx`
          UPDATE receipts SET is_read = false, read_at = ${now}
          WHERE user_id = ${q.userId} AND audience_id = ${q.audienceId} AND notification_id = ${q.notificationId}
            AND is_read AND NOT is_deleted`;
        changed = r.count === 1;
      }
      if (changed) return { found: true, changed: true, changedAt: now.toISOString() };

      const [receipt] = await tx<{ read_at: Date | null; deleted_at: Date | null }[]>`
        SELECT read_at, deleted_at FROM receipts
        WHERE user_id = ${q.userId} AND audience_id = ${q.audienceId} AND notification_id = ${q.notificationId}`;
      const since = q.deleted === true ? receipt?.deleted_at : receipt?.read_at;
      return { found: true, changed: false, changedAt: (since ?? now).toISOString() };
    });
  }

  async listForUser(q: ListQuery): Promise<ListPage> {
    storeArguments.keys(q);
    const limit = storeArguments.positive(q.limit, "limit");
    const cursor = q.cursor === null ? null : storeArguments.decodeCursor(q.cursor);
    const audiences = [...new Set(q.audiences)];
    if (audiences.length === 0) return { items: [], unreadCount: 0, nextCursor: null };
    const sql = this.#sql;
    const unreadOnly = q.unreadOnly ? sql`AND r.is_read IS NOT TRUE` : sql``;
    // The first condition is the index range (time_stamp, id) at or before the cursor; the second
    // drops the cursor row itself and the equal (time_stamp, id) rows of audiences already listed.
    const after =
      cursor === null
        ? sql``
        : sql`AND (n.time_stamp, n.id) <= (${cursor.timeStamp}, ${cursor.id})
              AND (n.time_stamp, n.id, n.audience_id) < (${cursor.timeStamp}, ${cursor.id}, ${cursor.audienceId})`;
    // One snapshot for the page and the count, so unreadCount agrees with the flags on the page.
    const [rows, count] = await sql.begin("isolation level repeatable read read only", async (tx) => [
      await tx<NotificationRow[]>`
        SELECT n.*
        ${this.#newestVisible(audiences, q.userId, q.now, limit + 1, sql`${unreadOnly} ${after}`)}
        ORDER BY n.time_stamp DESC, n.id DESC, n.audience_id DESC
        LIMIT ${limit + 1}`,
      await tx<{ unread: number }[]>`
        SELECT count(*)::integer AS unread
        FROM notifications n
        LEFT JOIN receipts r
          ON r.user_id = ${q.userId} AND r.audience_id = n.audience_id AND r.notification_id = n.id
        WHERE n.audience_id = ANY(${audiences}::text[])
          AND n.expires_at > ${q.now}
          AND r.is_deleted IS NOT TRUE
          AND r.is_read IS NOT TRUE`,
    ]);
    const more = rows.length > limit;
    const page = more ? rows.slice(0, limit) : [...rows];
    const last = page.at(-1);
    return {
      items: page.map(delivered),
      unreadCount: count[0]?.unread ?? 0,
      nextCursor:
        more && last !== undefined
          ? storeArguments.encodeCursor({ timeStamp: last.time_stamp, id: last.id, audienceId: last.audience_id })
          : null,
    };
  }

  async expire(now: Date, batch: number): Promise<number> {
    storeArguments.date(now, "now");
    const size = storeArguments.positive(batch, "batch");
    // One short statement per batch: it locks only the rows it deletes (and their receipts, by
    // cascade), and SKIP LOCKED passes over rows a concurrent setState or another replica's
    // sweeper holds, so no one waits on the sweeper.
    const result = await this.#sql`
      DELETE FROM notifications n
      USING (
        SELECT audience_id, id FROM notifications
        WHERE expires_at <= ${now}
        ORDER BY expires_at
        LIMIT ${size}
        FOR UPDATE SKIP LOCKED
      ) e
      WHERE n.audience_id = e.audience_id AND n.id = e.id`;
    return result.count;
  }
}

function delivered(row: NotificationRow): DeliveredNotification {
  return toDelivered(
    {
      id: row.id,
      type: row.type,
      body: row.body,
      routing: {
        // The column's CHECK constraint keeps it within 1..5.
        audienceType: row.audience_type as AudienceTypeValue,
        audienceValue: row.audience_value,
        tenantId: row.tenant_id,
        audienceId: row.audience_id,
      },
      metadata: {
        producer: row.producer,
        timeStamp: row.time_stamp.toISOString(),
        isPersisted: true,
        persistedTTL: row.expires_at.toISOString(),
      },
    },
    row.is_read,
  );
}

/** A row's primary key as one string (JSON keeps any two parts apart). */
function rowKey(audienceId: string, id: string): string {
  return JSON.stringify([audienceId, id]);
}

/**
 * The argument checks every `NotificationStore` applies alike, so that the same call is refused
 * the same way by each implementation: a `RangeError` that names the argument.
 */
import type { Notification } from "./envelope.js";
import { hasNul } from "./text.js";

/** Where a page of `listForUser` ended: the sort key of its last item. */
export interface ListCursor {
  timeStamp: Date;
  id: string;
  audienceId: string;
}

function date(value: string | Date, what: string): Date {
  const parsed = value instanceof Date ? value : new Date(value);
  if (Number.isNaN(parsed.getTime())) throw new RangeError(`${what} is not a valid date`);
  return parsed;
}

function count(value: number, what: string): number {
  if (!Number.isSafeInteger(value) || value < 0) throw new RangeError(`${what} must be a whole number, 0 or more`);
  return value;
}

/**
 * A key the store compares as text (a user id, an audience key, a notification id). PostgreSQL cannot
 * hold U+0000 in text, so no stored row has one; refused here rather than by the database.
 */
function key(value: string, what: string): string {
  if (hasNul(value)) throw new RangeError(`${what} must not contain NUL (U+0000) characters`);
  return value;
}

export const storeArguments = {
  date,
  /** `key` on every key a query names. */
  keys(q: { userId: string | null; audiences?: readonly string[]; audienceId?: string; notificationId?: string }): void {
    if (q.userId !== null) key(q.userId, "userId");
    for (const audience of q.audiences ?? []) key(audience, "audience");
    if (q.audienceId !== undefined) key(q.audienceId, "audienceId");
    if (q.notificationId !== undefined) key(q.notificationId, "notificationId");
  },
  /** A whole number, 0 or more. */
  count,
  /** A count of at least 1 (a page size, a batch size). */
  positive(value: number, what: string): number {
    if (count(value, what) < 1) throw new RangeError(`${what} must be 1 or more`);
    return value;
  },
  /** The dates of a notification to save; only persisted notifications are saved. */
  persisted(n: Notification): { timeStamp: Date; expiresAt: Date } {
    const ttl = n.metadata.persistedTTL;
    if (!n.metadata.isPersisted || ttl === null) throw new RangeError(`notification ${n.id} is not persisted: nothing to save`);
    return { expiresAt: date(ttl, "metadata.persistedTTL"), timeStamp: date(n.metadata.timeStamp, "metadata.timeStamp") };
  },
  /** Opaque to callers: base64url of JSON `[timeStamp, id, audienceId]`. */
  encodeCursor(c: ListCursor): string {
    return Buffer.from(JSON.stringify([c.timeStamp.toISOString(), c.id, c.audienceId]), "utf8").toString("base64url");
  },
  decodeCursor(text: string): ListCursor {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(text, "base64url").toString("utf8"));
    } catch {
      throw new RangeError("cursor is not valid");
    }
    if (!Array.isArray(parsed) || parsed.length !== 3 || !parsed.every((x) => typeof x === "string"))
      throw new RangeError("cursor is not valid");
    const [timeStamp, id, audienceId] = parsed as [string, string, string];
    const at = new Date(timeStamp);
    if (Number.isNaN(at.getTime()) || hasNul(id) || hasNul(audienceId)) throw new RangeError("cursor is not valid");
    return { timeStamp: at, id, audienceId };
  },
};

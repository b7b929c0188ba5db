/**
 * The wire form of store requests and replies (request-reply on `subjects.storeRequest(op)`), one
 * codec pair per operation, used by `BusNotificationStore` and by the store service's responder.
 * Bodies are UTF-8 JSON objects; dates travel as ISO-8601 strings. Decoding validates every field
 * it returns and throws `TypeError` with a one-line reason otherwise, so neither side acts on a
 * malformed or foreign message.
 */
import { isAudienceType } from "./audience.js";
import type { DeliveredNotification } from "./delivered.js";
import type { Notification } from "./envelope.js";
import type { ListPage, ListQuery, ReplayQuery, SaveOutcome, SaveResult, StateChange, StateChangeResult } from "./interfaces.js";
import { encodeJson, isObject, parseJsonObject, rememberNotificationJson, utf8 } from "./json-wire.js";
import type { Codec } from "./node-messages.js";

/** The request-reply operations, one subject each (`tidings.v1.store.<op>`). */
export const STORE_OPS = ["save", "saveMany", "replay", "setState", "list", "expire", "ping"] as const;
export type StoreOp = (typeof STORE_OPS)[number];

/** What each operation takes: the `NotificationStore` arguments (`ping` takes none). */
export interface StoreArgs {
  save: Notification;
  saveMany: readonly Notification[];
  replay: ReplayQuery;
  setState: StateChange;
  list: ListQuery;
  expire: { now: Date; batch: number };
  ping: Record<string, never>;
}

/** What each operation answers on success: the `NotificationStore` results (`ping`: the database answers). */
export interface StoreResults {
  save: SaveResult;
  saveMany: SaveOutcome[];
  replay: DeliveredNotification[];
  setState: StateChangeResult;
  list: ListPage;
  expire: number;
  ping: true;
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

/** One reply: the result, or the reason there is none. */
export type StoreAnswer<Op extends StoreOp> = { ok: true; value: StoreResults[Op] } | ({ ok: false } & StoreErrorReply);

export interface StoreOpCodecs<Op extends StoreOp> {
  request: Codec<StoreArgs[Op]>;
  answer: Codec<StoreAnswer<Op>>;
}

/** Reads typed fields of one JSON object; every failure is a `TypeError` worded by `fail`. */
class Fields {
  constructor(
    readonly obj: Record<string, unknown>,
    private readonly fail: (reason: string) => TypeError,
  ) {}

  error(reason: string): TypeError {
    return this.fail(reason);
  }
  string(key: string): string {
    const value = this.obj[key];
    if (typeof value !== "string") throw this.fail(`${key} must be a string`);
    return value;
  }
  nullableString(key: string): string | null {
    const value = this.obj[key];
    if (value === null) return null;
    if (typeof value !== "string") throw this.fail(`${key} must be a string or null`);
    return value;
  }
  boolean(key: string): boolean {
    const value = this.obj[key];
    if (typeof value !== "boolean") throw this.fail(`${key} must be true or false`);
    return value;
  }
  integer(key: string): number {
    const value = this.obj[key];
    if (typeof value !== "number" || !Number.isSafeInteger(value)) throw this.fail(`${key} must be an integer`);
    return value;
  }
  stringArray(key: string): string[] {
    const value = this.obj[key];
    if (!Array.isArray(value) || !value.every((x) => typeof x === "string")) throw this.fail(`${key} must be an array of strings`);
    return value;
  }
  date(key: string): Date {
    const value = this.obj[key];
    const parsed = typeof value === "string" ? new Date(value) : null;
    if (parsed === null || Number.isNaN(parsed.getTime())) throw this.fail(`${key} must be an ISO-8601 date-time`);
    return parsed;
  }
  object(key: string, path: string): Fields {
    const value = this.obj[key];
    if (!isObject(value)) throw this.fail(`${path} must be a JSON object`);
    return new Fields(value, this.fail);
  }
}

const requestError = (reason: string) => new TypeError(reason);
const replyError = (reason: string) => new TypeError(`the reply does not have the expected shape (${reason})`);
const REPLY_NOT_OBJECT = replyError("not a JSON object").message;

function requestFields(data: Uint8Array): Fields {
  return new Fields(parseJsonObject(data, "the request body is not JSON", "the request body must be a JSON object"), requestError);
}

const iso = (d: Date) => d.toISOString();

/**
 * A request codec: `toWire` gives the JSON body, `fromWire` reads it back. Callers of the store
 * validated the arguments; decoding still checks every field, guarding the database from a
 * malformed or foreign request.
 */
function request<T>(toWire: (args: T) => unknown, fromWire: (body: Fields) => T): Codec<T> {
  return { encode: (args) => encodeJson(toWire(args)), decode: (data) => fromWire(requestFields(data)) };
}

/** An answer codec: successful results as `toWire` gives them, refusals as `{error, code}`. */
function answer<Op extends StoreOp>(
  toWire: (value: StoreResults[Op]) => unknown,
  fromWire: (reply: Fields) => StoreResults[Op],
): Codec<StoreAnswer<Op>> {
  return {
    encode: (a) => encodeJson(a.ok ? toWire(a.value) : { error: a.error, code: a.code }),
    decode(data) {
      const reply = new Fields(parseJsonObject(data, "the reply is not JSON", REPLY_NOT_OBJECT), replyError);
      const error = reply.obj["error"];
      if (error === undefined) return { ok: true, value: fromWire(reply) };
      const code = reply.obj["code"];
      return {
        ok: false,
        error: typeof error === "string" ? error : "unknown error",
        // An unknown code is read as transient: retrying is the safe default.
        code: code === "invalid_request" || code === "refused" ? code : "unavailable",
      };
    },
  };
}

/** The stored notification of a `save` request, checked field by field; dates normalised to ISO-8601 UTC. */
function notificationFrom(body: Fields): Notification {
  return storedNotification(body.object("notification", "notification"), "notification");
}

/** The notifications of a `saveMany` request, each checked as `notificationFrom` checks one. */
function notificationsFrom(body: Fields): Notification[] {
  const items = body.obj["notifications"];
  if (!Array.isArray(items)) throw body.error("notifications must be an array");
  return items.map((item: unknown, i) => {
    const path = `notifications[${i}]`;
    if (!isObject(item)) throw body.error(`${path} must be a JSON object`);
    return storedNotification(new Fields(item, (reason) => body.error(reason)), path);
  });
}

/** One notification to store, read from `n` (at `path`, for the error text). */
function storedNotification(n: Fields, path: string): Notification {
  const routing = n.object("routing", `${path}.routing`);
  const metadata = n.object("metadata", `${path}.metadata`);
  const audienceType = routing.obj["audienceType"];
  if (!isAudienceType(audienceType)) throw n.error(`${path}.routing.audienceType must be an integer from 1 to 5`);
  if (metadata.obj["isPersisted"] !== true) throw n.error(`${path}.metadata.isPersisted must be true`);
  return {
    id: n.string("id"),
    type: n.string("type"),
    body: n.obj["body"] ?? null,
    routing: {
      audienceType,
      audienceValue: routing.string("audienceValue"),
      tenantId: routing.nullableString("tenantId"),
      audienceId: routing.string("audienceId"),
    },
    metadata: {
      producer: metadata.string("producer"),
      timeStamp: iso(metadata.date("timeStamp")),
      isPersisted: true,
      persistedTTL: iso(metadata.date("persistedTTL")),
    },
  };
}

/**
 * Delivered notifications of a reply: each checked for the fields a gateway reads (id, type,
 * audienceId, isRead, routing, metadata) and passed on as sent.
 */
function deliveredFrom(reply: Fields, key: string): DeliveredNotification[] {
  const items = reply.obj[key];
  if (!Array.isArray(items)) throw reply.error(`${key} must be an array`);
  for (const item of items) {
    if (
      !isObject(item) ||
      typeof item["id"] !== "string" ||
      typeof item["type"] !== "string" ||
      typeof item["audienceId"] !== "string" ||
      typeof item["isRead"] !== "boolean" ||
      !isObject(item["routing"]) ||
      !isObject(item["metadata"])
    ) {
      throw reply.error(`${key} must hold delivered notifications`);
    }
  }
  return items as DeliveredNotification[];
}

const SAVE_RESULTS: ReadonlySet<unknown> = new Set<SaveResult>(["stored", "duplicate", "expired"]);

/** A `save` result of a reply; anything but a known result must not be mistaken for "stored". */
function saveResultOf(reply: Fields, value: unknown, key: string): SaveResult {
  if (!SAVE_RESULTS.has(value)) throw reply.error(`${key} must be stored, duplicate or expired`);
  return value as SaveResult;
}

/** The per-notification outcomes of a `saveMany` reply: `{result}` or `{error}` each. */
function outcomesFrom(reply: Fields): SaveOutcome[] {
  const items = reply.obj["outcomes"];
  if (!Array.isArray(items)) throw reply.error("outcomes must be an array");
  return items.map((item: unknown, i): SaveOutcome => {
    if (isObject(item) && typeof item["error"] === "string") return { ok: false, error: item["error"] };
    return { ok: true, result: saveResultOf(reply, isObject(item) ? item["result"] : undefined, `outcomes[${i}].result`) };
  });
}

export const storeCodecs: { readonly [Op in StoreOp]: StoreOpCodecs<Op> } = {
  save: {
    // The notification's JSON is remembered: the router publishes the same text to the owning nodes.
    request: {
      encode: (n) => utf8(`{"notification":${rememberNotificationJson(n)}}`),
      decode: (data) => notificationFrom(requestFields(data)),
    },
    answer: answer<"save">(
      (result) => ({ result }),
      (reply) => saveResultOf(reply, reply.obj["result"], "result"),
    ),
  },
  saveMany: {
    request: {
      encode: (ns) => utf8(`{"notifications":[${ns.map(rememberNotificationJson).join(",")}]}`),
      decode: (data) => notificationsFrom(requestFields(data)),
    },
    answer: answer<"saveMany">(
      (outcomes) => ({ outcomes: outcomes.map((o) => (o.ok ? { result: o.result } : { error: o.error })) }),
      outcomesFrom,
    ),
  },
  replay: {
    request: request(
      (q) => ({
        userId: q.userId,
        audiences: q.audiences,
        limit: q.limit,
        now: iso(q.now),
        ...(q.since === undefined ? {} : { since: iso(q.since) }),
      }),
      (b) => ({
        userId: b.nullableString("userId"),
        audiences: b.stringArray("audiences"),
        limit: b.integer("limit"),
        now: b.date("now"),
        ...(b.obj["since"] === undefined ? {} : { since: b.date("since") }),
      }),
    ),
    answer: answer<"replay">(
      (items) => ({ items }),
      (reply) => deliveredFrom(reply, "items"),
    ),
  },
  setState: {
    request: request<StateChange>(
      (q) => {
        const base = { userId: q.userId, audienceId: q.audienceId, notificationId: q.notificationId, now: iso(q.now) };
        return q.deleted === true ? { ...base, deleted: true } : { ...base, read: q.read };
      },
      (b) => {
        const base = {
          userId: b.string("userId"),
          audienceId: b.string("audienceId"),
          notificationId: b.string("notificationId"),
          now: b.date("now"),
        };
        if (b.obj["deleted"] === true) {
          if (b.obj["read"] !== undefined) throw b.error("setState takes either read or deleted, not both");
          return { ...base, deleted: true };
        }
        if (b.obj["deleted"] !== undefined) throw b.error("deleted must be true when given");
        return { ...base, read: b.boolean("read") };
      },
    ),
    answer: answer<"setState">(
      ({ found, changed, changedAt }) => ({ found, changed, changedAt }),
      (reply) => ({ found: reply.boolean("found"), changed: reply.boolean("changed"), changedAt: reply.string("changedAt") }),
    ),
  },
  list: {
    request: request(
      (q) => ({ userId: q.userId, audiences: q.audiences, unreadOnly: q.unreadOnly, limit: q.limit, cursor: q.cursor, now: iso(q.now) }),
      (b) => ({
        userId: b.string("userId"),
        audiences: b.stringArray("audiences"),
        unreadOnly: b.boolean("unreadOnly"),
        limit: b.integer("limit"),
        cursor: b.nullableString("cursor"),
        now: b.date("now"),
      }),
    ),
    answer: answer<"list">(
      ({ items, unreadCount, nextCursor }) => ({ items, unreadCount, nextCursor }),
      (reply) => ({
        items: deliveredFrom(reply, "items"),
        unreadCount: reply.integer("unreadCount"),
        nextCursor: reply.nullableString("nextCursor"),
      }),
    ),
  },
  expire: {
    request: request(
      ({ now, batch }) => ({ now: iso(now), batch }),
      (b) => ({ now: b.date("now"), batch: b.integer("batch") }),
    ),
    answer: answer<"expire">(
      (count) => ({ count }),
      (reply) => reply.integer("count"),
    ),
  },
  ping: {
    request: request(
      () => ({}),
      () => ({}),
    ),
    answer: answer<"ping">(
      () => ({ ok: true }),
      (reply) => {
        if (reply.obj["ok"] !== true) throw reply.error("ok must be true");
        return true;
      },
    ),
  },
};

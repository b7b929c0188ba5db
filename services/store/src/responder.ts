import {
  STORE_OPS,
  StoreRefusedError,
  subjects,
  type Bus,
  type BusMessage,
  type BusSubscription,
  type Notification,
  type NotificationStore,
  type StoreErrorReply,
  type StoreOp,
} from "@tidings/contracts";
import type { Logger } from "@tidings/observability";

export interface StoreResponderOptions {
  /** Queue group shared by the store replicas, so each request is answered by one of them. */
  queue?: string;
  /** Failed operations are logged here at warn level. */
  logger?: Logger;
  /**
   * Answers `ping`: resolves when the database is reachable. Without it a ping only proves that
   * this responder is subscribed.
   */
  ping?: () => Promise<void>;
}

export interface StoreResponder {
  /** Stops taking requests and resolves when the requests already taken are answered. Idempotent. */
  close(): Promise<void>;
}

/** The queue group of the store service's request subjects. */
export const STORE_QUEUE = "tidings-store";

/** A request that cannot be served as sent; answered with code `invalid_request`. */
class InvalidRequest extends Error {}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Serves `store` on `subjects.storeRequest(op)` for every op of `STORE_OPS` (the protocol of
 * `BusNotificationStore`). Every request with a reply subject gets exactly one answer: the result,
 * or `{error, code}`: `invalid_request` for a malformed body or arguments the store refuses
 * (RangeError), `refused` for data the database refuses for good (see `isRefusedByDatabase`),
 * `unavailable` for anything else (database down, connection lost). No input makes a handler throw.
 */
export function createStoreResponder(bus: Bus, store: NotificationStore, opts: StoreResponderOptions = {}): StoreResponder {
  const pending = new Set<Promise<void>>();
  const subscriptions: BusSubscription[] = STORE_OPS.map((op) =>
    bus.subscribe(
      subjects.storeRequest(op),
      (msg) => {
        const answer = respond(bus, store, op, msg, opts);
        pending.add(answer);
        void answer.finally(() => pending.delete(answer));
      },
      { queue: opts.queue ?? STORE_QUEUE },
    ),
  );
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        for (const s of subscriptions) s.unsubscribe();
        await Promise.all(pending);
      })();
      return closing;
    },
  };
}

/**
 * True when the database refused the data itself, so the same request fails again however often
 * it is retried: SQLSTATE class 22 (data exception: invalid byte sequence, NUL in text, bad JSON
 * escape, value out of range …) or 23 (integrity constraint violation), or a `StoreRefusedError`.
 * Connection failures, timeouts, shutdowns and every other class are transient.
 */
export function isRefusedByDatabase(err: unknown): boolean {
  if (err instanceof StoreRefusedError) return true;
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code);
}

function errorCode(err: unknown): StoreErrorReply["code"] {
  if (err instanceof InvalidRequest || err instanceof RangeError) return "invalid_request";
  return isRefusedByDatabase(err) ? "refused" : "unavailable";
}

async function respond(bus: Bus, store: NotificationStore, op: StoreOp, msg: BusMessage, opts: StoreResponderOptions): Promise<void> {
  if (msg.reply === null) return;
  const logger = opts.logger;
  let reply: unknown;
  try {
    const body = parseBody(msg.data);
    reply = op === "ping" ? (await opts.ping?.(), { ok: true }) : await serve(store, op, body);
  } catch (err) {
    const code = errorCode(err);
    const error: StoreErrorReply = { error: err instanceof Error ? err.message : String(err), code };
    if (code === "unavailable") logger?.warn({ err, op }, "store request failed");
    else if (code === "refused") logger?.warn({ err, op }, "the database refused the data");
    reply = error;
  }
  try {
    bus.publish(msg.reply, encoder.encode(JSON.stringify(reply)));
  } catch (err) {
    // The bus is closing: the requester times out, as it would had this replica died.
    logger?.warn({ err, op }, "store reply not sent");
  }
}

async function serve(store: NotificationStore, op: Exclude<StoreOp, "ping">, body: Record<string, unknown>): Promise<unknown> {
  switch (op) {
    case "save":
      return { result: await store.save(notificationField(body)) };
    case "replay":
      return {
        items: await store.replay({
          userId: nullableString(body, "userId"),
          audiences: stringArray(body, "audiences"),
          limit: integer(body, "limit"),
          now: date(body, "now"),
          ...(body["since"] === undefined ? {} : { since: date(body, "since") }),
        }),
      };
    case "setState": {
      const base = {
        userId: string(body, "userId"),
        audienceId: string(body, "audienceId"),
        notificationId: string(body, "notificationId"),
        now: date(body, "now"),
      };
      if (body["deleted"] === true) {
        if (body["read"] !== undefined) throw new InvalidRequest("setState takes either read or deleted, not both");
        return store.setState({ ...base, deleted: true });
      }
      if (body["deleted"] !== undefined) throw new InvalidRequest("deleted must be true when given");
      return store.setState({ ...base, read: boolean(body, "read") });
    }
    case "list":
      return store.listForUser({
        userId: string(body, "userId"),
        audiences: stringArray(body, "audiences"),
        unreadOnly: boolean(body, "unreadOnly"),
        limit: integer(body, "limit"),
        cursor: nullableString(body, "cursor"),
        now: date(body, "now"),
      });
    case "expire":
      return { count: await store.expire(date(body, "now"), integer(body, "batch")) };
  }
}

function parseBody(data: Uint8Array): Record<string, unknown> {
  let body: unknown;
  try {
    body = JSON.parse(decoder.decode(data));
  } catch {
    throw new InvalidRequest("the request body is not JSON");
  }
  if (!isObject(body)) throw new InvalidRequest("the request body must be a JSON object");
  return body;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function string(body: Record<string, unknown>, key: string): string {
  const value = body[key];
  if (typeof value !== "string") throw new InvalidRequest(`${key} must be a string`);
  return value;
}

function nullableString(body: Record<string, unknown>, key: string): string | null {
  const value = body[key];
  if (value === null) return null;
  if (typeof value !== "string") throw new InvalidRequest(`${key} must be a string or null`);
  return value;
}

function boolean(body: Record<string, unknown>, key: string): boolean {
  const value = body[key];
  if (typeof value !== "boolean") throw new InvalidRequest(`${key} must be true or false`);
  return value;
}

function integer(body: Record<string, unknown>, key: string): number {
  const value = body[key];
  if (typeof value !== "number" || !Number.isSafeInteger(value)) throw new InvalidRequest(`${key} must be an integer`);
  return value;
}

function stringArray(body: Record<string, unknown>, key: string): string[] {
  const value = body[key];
  if (!Array.isArray(value) || !value.every((x) => typeof x === "string")) throw new InvalidRequest(`${key} must be an array of strings`);
  return value;
}

function date(body: Record<string, unknown>, key: string): Date {
  const value = body[key];
  const parsed = typeof value === "string" ? new Date(value) : null;
  if (parsed === null || Number.isNaN(parsed.getTime())) throw new InvalidRequest(`${key} must be an ISO-8601 date-time`);
  return parsed;
}

/**
 * The `notification` field, checked field by field against `Notification` (the router validated
 * the envelope; this guards the database from a malformed or foreign request).
 */
function notificationField(body: Record<string, unknown>): Notification {
  const n = body["notification"];
  if (!isObject(n)) throw new InvalidRequest("notification must be a JSON object");
  const routing = n["routing"];
  const metadata = n["metadata"];
  if (!isObject(routing)) throw new InvalidRequest("notification.routing must be a JSON object");
  if (!isObject(metadata)) throw new InvalidRequest("notification.metadata must be a JSON object");
  const audienceType = routing["audienceType"];
  if (audienceType !== 1 && audienceType !== 2 && audienceType !== 3 && audienceType !== 4 && audienceType !== 5) {
    throw new InvalidRequest("notification.routing.audienceType must be an integer from 1 to 5");
  }
  if (metadata["isPersisted"] !== true) throw new InvalidRequest("notification.metadata.isPersisted must be true");
  return {
    id: string(n, "id"),
    type: string(n, "type"),
    body: n["body"] ?? null,
    routing: {
      audienceType,
      audienceValue: string(routing, "audienceValue"),
      tenantId: nullableString(routing, "tenantId"),
      audienceId: string(routing, "audienceId"),
    },
    metadata: {
      producer: string(metadata, "producer"),
      timeStamp: date(metadata, "timeStamp").toISOString(),
      isPersisted: true,
      persistedTTL: date(metadata, "persistedTTL").toISOString(),
    },
  };
}

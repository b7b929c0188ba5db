import type { Notification } from "./envelope.js";
import { encodeJson, isObject, notificationJson, parseJsonObject, utf8 } from "./json-wire.js";

/** The wire form of one kind of cross-node message; publisher and subscriber use the same codec. */
export interface Codec<T> {
  encode(value: T): Uint8Array;
  /** Throws `TypeError` for bytes that are not this kind of message. */
  decode(data: Uint8Array): T;
}

function parse(data: Uint8Array, what: string): Record<string, unknown> {
  return parseJsonObject(data, `${what}: not JSON`, `${what}: not a JSON object`);
}

/**
 * A validated, normalised notification as UTF-8 JSON: what HTTP ingest publishes to JetStream and what a
 * router sends to a gateway node on `tidings.v1.node.<nodeId>`. Only Tidings publishes these, after
 * validation, so decoding checks the shape the gateway relies on (id, type, routing, metadata), not every rule.
 */
export const notificationCodec: Codec<Notification> = {
  encode: (n) => utf8(notificationJson(n)),
  decode(data) {
    const n = parse(data, "notification");
    if (typeof n["id"] !== "string" || typeof n["type"] !== "string" || !isObject(n["routing"]) || !isObject(n["metadata"])) {
      throw new TypeError("notification: id, type, routing and metadata are required");
    }
    if (typeof n["routing"]["audienceId"] !== "string") throw new TypeError("notification: routing.audienceId is required");
    return n as unknown as Notification;
  },
};

/** A user's read-state change on its way to every gateway node (`subjects.userEvents`). */
export interface UserEvent {
  userId: string;
  /** The hub event's target, e.g. `EventReadStatusChange`. */
  target: string;
  /** The event's single argument, sent as is to every connection of the user. */
  payload: unknown;
}

/** `UserEvent` as UTF-8 JSON `{"userId","target","payload"}`. */
export const userEventCodec: Codec<UserEvent> = {
  encode: ({ userId, target, payload }) => encodeJson({ userId, target, payload }),
  decode(data) {
    const e = parse(data, "user event");
    if (typeof e["userId"] !== "string" || typeof e["target"] !== "string")
      throw new TypeError("user event: userId and target must be strings");
    return { userId: e["userId"], target: e["target"], payload: e["payload"] };
  },
};

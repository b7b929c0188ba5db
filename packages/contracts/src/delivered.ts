import type { Notification } from "./envelope.js";

/**
 * What a client receives as the single argument of the Invocation whose target is `type`
 * (docs/contract.md §5). Keys are in this order on the wire: id, type, audienceId, isRead, body, routing,
 * metadata.
 */
export interface DeliveredNotification {
  id: string;
  type: string;
  /** The audience key, also found at `routing.audienceId`; what MarkAsRead/MarkAsDeleted take. */
  audienceId: string;
  /** The receiving user's state: false on live delivery and for anonymous connections. */
  isRead: boolean;
  body: unknown;
  routing: Notification["routing"];
  metadata: Notification["metadata"];
}

/**
 * The delivered form of `n`, keys in contract order. `routing`, `metadata` and `body` are shared with
 * `n`, not copied (one notification is encoded once per protocol on the hot path); treat both
 * objects as immutable.
 */
export function toDelivered(n: Notification, isRead: boolean): DeliveredNotification {
  return {
    id: n.id,
    type: n.type,
    audienceId: n.routing.audienceId,
    isRead,
    body: n.body,
    routing: n.routing,
    metadata: n.metadata,
  };
}

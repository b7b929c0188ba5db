import { AudienceType, toDelivered, type Notification } from "@tidings/contracts";
import { jsonProtocol, messagePackProtocol, type HubProtocol, type ProtocolName } from "@tidings/protocol";
import type { HubConnection } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import type { Membership } from "./hub.js";

const PROTOCOLS: readonly HubProtocol[] = [jsonProtocol, messagePackProtocol];

/** uWS topic of an audience for one protocol: a topic's subscribers all take the same bytes. */
export function topicFor(protocol: ProtocolName, key: string): string {
  return (protocol === "json" ? "j|" : "m|") + key;
}

/** The two uWS app calls fan-out needs; injected so the rest of the gateway never touches uWS. */
export interface TopicPublisher {
  publish(topic: string, bytes: Uint8Array, binary: boolean): void;
  numSubscribers(topic: string): number;
}

/**
 * Delivers notifications to this node's connections. Each notification is encoded at most once per
 * protocol that has subscribers, then handed to uWS topic publish, which writes to every subscribed
 * socket in C++: no per-connection JS on the hot path. Also the audience-membership bookkeeping.
 */
export class Fanout implements Membership {
  /** `audience\nid` → expiry (ms); insertion order is expiry order because the window is fixed */
  readonly #recent = new Map<string, number>();

  constructor(
    private readonly publisher: TopicPublisher,
    private readonly table: ConnectionTable,
    private readonly dedupeWindowMs: number,
  ) {}

  join(connection: HubConnection, key: string): void {
    if (connection.audiences.has(key)) return;
    connection.audiences.add(key);
    connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  leave(connection: HubConnection, key: string): void {
    if (!connection.audiences.delete(key)) return;
    connection.transport?.unsubscribe(topicFor(connection.protocol!.name, key));
  }

  /**
   * Sends a notification to every local connection in its audience, once per (audience, id) within the
   * de-duplication window. Returns false when it was a duplicate.
   */
  deliver(notification: Notification, now: number): boolean {
    const key = notification.routing.audienceId;
    if (this.#isDuplicate(`${key}\n${notification.id}`, now)) return false;
    const delivered = toDelivered(notification, false);
    if (notification.routing.audienceType === AudienceType.Connection) {
      const connection = this.table.byConnectionId(key);
      if (connection?.state === "open") {
        connection.sendMessage(connection.protocol!.encodeNotification(notification.type, delivered), now);
      }
      return true;
    }
    for (const protocol of PROTOCOLS) {
      const topic = topicFor(protocol.name, key);
      if (this.publisher.numSubscribers(topic) === 0) continue;
      this.publisher.publish(topic, protocol.encodeNotification(notification.type, delivered), protocol.binary);
    }
    return true;
  }

  #isDuplicate(dedupeKey: string, now: number): boolean {
    for (const [k, expiresAt] of this.#recent) {
      if (expiresAt > now) break;
      this.#recent.delete(k);
    }
    if (this.#recent.has(dedupeKey)) return true;
    this.#recent.set(dedupeKey, now + this.dedupeWindowMs);
    return false;
  }
}

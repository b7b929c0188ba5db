import { AudienceType, toDelivered, type Notification } from "@tidings/contracts";
import { jsonProtocol, messagePackProtocol, type HubProtocol, type ProtocolName } from "@tidings/protocol";
import type { HubConnection } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import type { Membership } from "./hub.js";
import type { GatewayMetrics } from "./metrics.js";

const PROTOCOLS: readonly HubProtocol[] = [jsonProtocol, messagePackProtocol];

/** uWS topic of an audience for one protocol: a topic's subscribers all take the same bytes. */
export function topicFor(protocol: ProtocolName, key: string): string {
  return (protocol === "json" ? "j|" : "m|") + key;
}

/** One `add` per connection joining an audience, one `remove` per leaving (or closing) connection. */
export interface MembershipListener {
  add(key: string): void;
  remove(key: string): void;
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

  /** per-protocol metric children, resolved once: label lookups stay off the hot path */
  readonly #perProtocol: ReadonlyArray<{ protocol: HubProtocol; deliveries: { inc(n: number): void }; sentBytes: { inc(n: number): void } }>;
  readonly #delivered: { inc(n: number): void };
  readonly #duplicates: { inc(n: number): void };

  constructor(
    private readonly publisher: TopicPublisher,
    private readonly table: ConnectionTable,
    private readonly dedupeWindowMs: number,
    private readonly metrics: GatewayMetrics,
    /** Told when this node's first connection joins an audience and when its last leaves (ref-counted there): the cluster registry. */
    private readonly membershipListener?: MembershipListener,
  ) {
    this.#perProtocol = PROTOCOLS.map((protocol) => ({
      protocol,
      deliveries: metrics.deliveries.labels(protocol.name),
      sentBytes: metrics.sentBytes.labels(protocol.name),
    }));
    this.#delivered = metrics.notifications.labels("delivered");
    this.#duplicates = metrics.notifications.labels("duplicate");
  }

  join(connection: HubConnection, key: string): void {
    if (connection.audiences.has(key)) return;
    connection.audiences.add(key);
    this.membershipListener?.add(key);
    connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  leave(connection: HubConnection, key: string): void {
    if (!connection.audiences.delete(key)) return;
    this.membershipListener?.remove(key);
    connection.transport?.unsubscribe(topicFor(connection.protocol!.name, key));
  }

  /**
   * Sends a notification to every local connection in its audience, once per (audience, id) within the
   * de-duplication window. Returns false when it was a duplicate.
   */
  deliver(notification: Notification, now: number): boolean {
    const key = notification.routing.audienceId;
    if (this.#isDuplicate(`${key}\n${notification.id}`, now)) {
      this.#duplicates.inc(1);
      return false;
    }
    const started = performance.now();
    const delivered = toDelivered(notification, false);
    if (notification.routing.audienceType === AudienceType.Connection) {
      const connection = this.table.byConnectionId(key);
      if (connection?.state === "open") {
        const bytes = connection.protocol!.encodeNotification(notification.type, delivered);
        connection.sendMessage(bytes, now);
        const m = this.#perProtocol.find((p) => p.protocol === connection.protocol)!;
        m.deliveries.inc(1);
        m.sentBytes.inc(bytes.byteLength);
      }
    } else {
      for (const { protocol, deliveries, sentBytes } of this.#perProtocol) {
        const topic = topicFor(protocol.name, key);
        const receivers = this.publisher.numSubscribers(topic);
        if (receivers === 0) continue;
        const encodeStarted = performance.now();
        const bytes = protocol.encodeNotification(notification.type, delivered);
        this.metrics.encodeSeconds.observe((performance.now() - encodeStarted) / 1000);
        this.publisher.publish(topic, bytes, protocol.binary);
        deliveries.inc(receivers);
        sentBytes.inc(receivers * bytes.byteLength);
      }
    }
    this.metrics.fanoutSeconds.observe((performance.now() - started) / 1000);
    this.#delivered.inc(1);
    const acceptedAt = Date.parse(notification.metadata.timeStamp);
    if (acceptedAt <= now) this.metrics.deliveryLatency.observe((now - acceptedAt) / 1000);
    return true;
  }

  /** A closed connection leaves every audience (uWS drops its topic subscriptions by itself). */
  forget(connection: HubConnection): void {
    if (this.membershipListener !== undefined) for (const key of connection.audiences) this.membershipListener.remove(key);
    connection.audiences.clear();
  }

  /**
   * Sends a hub event (e.g. EventReadStatusChange) to every local connection in the audience. Events
   * are not de-duplicated: each is a distinct state change.
   */
  deliverEvent(key: string, target: string, payload: unknown): void {
    for (const { protocol, deliveries } of this.#perProtocol) {
      const topic = topicFor(protocol.name, key);
      const receivers = this.publisher.numSubscribers(topic);
      if (receivers === 0) continue;
      this.publisher.publish(topic, protocol.encodeNotification(target, payload), protocol.binary);
      deliveries.inc(receivers);
    }
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

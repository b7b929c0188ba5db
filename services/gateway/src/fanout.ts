import { AUDIENCE_KINDS, toDelivered, type Notification } from "@tidings/contracts";
import { jsonProtocol, messagePackProtocol, type HubProtocol, type ProtocolName } from "@tidings/protocol";
import type { HubConnection } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import { deliveredJsonFrame } from "./delivered-frame.js";
import type { EncodeFailures } from "./encode-failures.js";
import type { Membership } from "./hub.js";
import { TIMING_SAMPLE_EVERY, type GatewayMetrics } from "./metrics.js";

const PROTOCOLS: readonly HubProtocol[] = [jsonProtocol, messagePackProtocol];
/** How long a topic's last publish time is kept for keep-alive purposes (see Fanout#publishedAt). */
const PUBLISHED_AT_HORIZON_MS = 5 * 60_000;

/** A protocol with its counter children and the tallies not yet added to them (see Fanout#flushTallies). */
interface PerProtocol {
  readonly protocol: HubProtocol;
  readonly deliveriesCounter: { inc(n: number): void };
  readonly sentBytesCounter: { inc(n: number): void };
  readonly encodeSeconds: { observe(seconds: number): void };
  /** (connection, audience) memberships of this protocol's connections: 0 means no topic of it has subscribers */
  members: number;
  deliveries: number;
  sentBytes: number;
}

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
  /*
   * De-duplication: `#recent` holds `audience\nid` of every notification delivered within the window;
   * `#queueKeys[i]` / `#queueExpiry[i]` (from `#queueHead`) are the same keys in insertion order with their
   * expiry (ms). The window is fixed, so insertion order is expiry order and only the front can be due:
   * each call compares one number, and the sweep deletes due keys by value. (Sweeping by iterating the
   * Set/Map instead walks over every slot deleted since its last rehash, on every call: tens of µs per
   * notification once entries start expiring.) Set + queue also hold no boxed expiry per entry.
   */
  readonly #recent = new Set<string>();
  #queueKeys: string[] = [];
  #queueExpiry: number[] = [];
  #queueHead = 0;

  /** notifications delivered so far; picks the 1 in TIMING_SAMPLE_EVERY whose timings are observed */
  #deliveredCount = 0;

  /*
   * Counter tallies as plain numbers, added to their prom-client children (resolved once) by
   * #flushTallies, which metrics.ts runs before every read of those counters: exact when observed,
   * and no label hashing per notification.
   */
  readonly #perProtocol: ReadonlyArray<PerProtocol>;
  /*
   * When fan-out last published to each topic, so a connection's keep-alive counts topic writes as sent
   * messages. Entries older than PUBLISHED_AT_HORIZON_MS are swept: past that, a Ping is due under any
   * sane keep-alive.
   */
  readonly #publishedAt = new Map<string, number>();
  #sweptPublishedAt = 0;
  readonly #delivered: { inc(n: number): void };
  readonly #duplicates: { inc(n: number): void };
  #deliveredTally = 0;
  #duplicatesTally = 0;

  constructor(
    private readonly publisher: TopicPublisher,
    private readonly table: ConnectionTable,
    private readonly dedupeWindowMs: number,
    private readonly metrics: GatewayMetrics,
    /** Told of a notification a protocol cannot encode; fan-out skips it for that protocol and goes on. */
    private readonly encodeFailures: EncodeFailures,
    /** Told when this node's first connection joins an audience and when its last leaves (ref-counted there): the cluster registry. */
    private readonly membershipListener?: MembershipListener,
  ) {
    this.#perProtocol = PROTOCOLS.map((protocol) => ({
      protocol,
      deliveriesCounter: metrics.deliveries.labels(protocol.name),
      sentBytesCounter: metrics.sentBytes.labels(protocol.name),
      encodeSeconds: metrics.encodeSeconds.labels(protocol.name),
      members: 0,
      deliveries: 0,
      sentBytes: 0,
    }));
    this.#delivered = metrics.notifications.labels("delivered");
    this.#duplicates = metrics.notifications.labels("duplicate");
    metrics.addTallyFlush(() => this.#flushTallies());
  }

  join(connection: HubConnection, key: string, subscribeTopic = true): void {
    if (connection.audiences.has(key)) return;
    connection.audiences.add(key);
    this.#of(connection).members++;
    this.membershipListener?.add(key);
    if (subscribeTopic) connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  subscribeTopics(connection: HubConnection): void {
    for (const key of connection.audiences) connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  leave(connection: HubConnection, key: string): void {
    if (!connection.audiences.delete(key)) return;
    this.#of(connection).members--;
    this.membershipListener?.remove(key);
    connection.transport?.unsubscribe(topicFor(connection.protocol!.name, key));
  }

  /**
   * Sends a notification to every local connection in its audience, once per (audience, id) within the
   * de-duplication window. Returns false when it was a duplicate. `wire`, when given, is the notification
   * as `notificationCodec` encoded it (how a gateway node receives it): JSON frames are then spliced from
   * those bytes instead of serialising the notification again (delivered-frame.ts).
   */
  deliver(notification: Notification, now: number, wire?: Uint8Array): boolean {
    const key = notification.routing.audienceId;
    if (this.#isDuplicate(key + "\n" + notification.id, now)) {
      this.#duplicatesTally++;
      return false;
    }
    // Encode/fan-out timing for a sample only (metrics.ts TIMING_SAMPLE_EVERY); the first notification is in it.
    const timed = (this.#deliveredCount++ & (TIMING_SAMPLE_EVERY - 1)) === 0;
    const started = timed ? performance.now() : 0;
    if (AUDIENCE_KINDS[notification.routing.audienceType].byConnectionId) {
      const connection = this.table.byConnectionId(key);
      if (connection?.state === "open") {
        const bytes = this.#encode(connection.protocol!, notification, wire);
        if (bytes !== null) {
          connection.sendMessage(bytes, now);
          const m = this.#of(connection);
          m.deliveries += 1;
          m.sentBytes += bytes.byteLength;
        }
      }
    } else {
      for (const m of this.#perProtocol) {
        // No connection of this protocol is in any audience here: skip its topic lookups.
        if (m.members === 0) continue;
        const protocol = m.protocol;
        const topic = topicFor(protocol.name, key);
        const receivers = this.publisher.numSubscribers(topic);
        if (receivers === 0) continue;
        let bytes: Uint8Array | null;
        if (timed) {
          const encodeStarted = performance.now();
          bytes = this.#encode(protocol, notification, wire);
          m.encodeSeconds.observe((performance.now() - encodeStarted) / 1000);
        } else {
          bytes = this.#encode(protocol, notification, wire);
        }
        if (bytes === null) continue;
        this.publisher.publish(topic, bytes, protocol.binary);
        this.#published(topic, now);
        m.deliveries += receivers;
        m.sentBytes += receivers * bytes.byteLength;
      }
    }
    if (timed) this.metrics.fanoutSeconds.observe((performance.now() - started) / 1000);
    this.#deliveredTally++;
    const acceptedAt = Date.parse(notification.metadata.timeStamp);
    if (acceptedAt <= now) this.metrics.deliveryLatency.observe((now - acceptedAt) / 1000);
    return true;
  }

  /** True when `id` to audience `audienceId` went through `deliver` within the de-duplication window. */
  delivered(audienceId: string, id: string): boolean {
    return this.#recent.has(audienceId + "\n" + id);
  }

  /** A closed connection leaves every audience (uWS drops its topic subscriptions by itself). */
  forget(connection: HubConnection): void {
    if (this.membershipListener !== undefined) for (const key of connection.audiences) this.membershipListener.remove(key);
    if (connection.protocol !== null) this.#of(connection).members -= connection.audiences.size;
    connection.audiences.clear();
  }

  /**
   * Sends a hub event (e.g. EventReadStatusChange) to every local connection in the audience. Events
   * are not de-duplicated: each is a distinct state change.
   */
  deliverEvent(key: string, target: string, payload: unknown): void {
    for (const m of this.#perProtocol) {
      const topic = topicFor(m.protocol.name, key);
      const receivers = this.publisher.numSubscribers(topic);
      if (receivers === 0) continue;
      this.publisher.publish(topic, m.protocol.encodeNotification(target, payload), m.protocol.binary);
      this.#published(topic, Date.now());
      m.deliveries += receivers;
    }
  }

  /** The last time fan-out published to a topic `connection` is subscribed to (0: not within the horizon). */
  lastPublishedTo(connection: HubConnection): number {
    if (connection.protocol === null) return 0;
    let last = 0;
    for (const key of connection.audiences) last = Math.max(last, this.#publishedAt.get(topicFor(connection.protocol.name, key)) ?? 0);
    return last;
  }

  #published(topic: string, now: number): void {
    this.#publishedAt.set(topic, now);
    // One sweep per horizon, over every entry: amortised O(1) per publish, and the map holds at most the
    // topics published within two horizons.
    if (now - this.#sweptPublishedAt < PUBLISHED_AT_HORIZON_MS) return;
    this.#sweptPublishedAt = now;
    for (const [topic, at] of this.#publishedAt) if (now - at >= PUBLISHED_AT_HORIZON_MS) this.#publishedAt.delete(topic);
  }

  #of(connection: HubConnection): PerProtocol {
    return this.#perProtocol[0]!.protocol === connection.protocol ? this.#perProtocol[0]! : this.#perProtocol[1]!;
  }

  /** The notification's frame in `protocol`, or null (reported) when that protocol cannot encode it. */
  #encode(protocol: HubProtocol, notification: Notification, wire: Uint8Array | undefined): Uint8Array | null {
    try {
      if (wire !== undefined && protocol === jsonProtocol) {
        const frame = deliveredJsonFrame(notification, wire);
        if (frame !== null) return frame;
      }
      return protocol.encodeNotification(notification.type, toDelivered(notification, false));
    } catch (err) {
      this.encodeFailures.report(notification, protocol.name, err);
      return null;
    }
  }

  /** Adds the tallies to their counters and zeroes them; a zero tally adds nothing (no empty series appears). */
  #flushTallies(): void {
    if (this.#deliveredTally > 0) this.#delivered.inc(this.#deliveredTally);
    if (this.#duplicatesTally > 0) this.#duplicates.inc(this.#duplicatesTally);
    this.#deliveredTally = this.#duplicatesTally = 0;
    for (const m of this.#perProtocol) {
      if (m.deliveries > 0) m.deliveriesCounter.inc(m.deliveries);
      if (m.sentBytes > 0) m.sentBytesCounter.inc(m.sentBytes);
      m.deliveries = m.sentBytes = 0;
    }
  }

  #isDuplicate(dedupeKey: string, now: number): boolean {
    if (this.#queueHead < this.#queueExpiry.length && this.#queueExpiry[this.#queueHead]! <= now) this.#sweep(now);
    // One hash lookup: add, then see whether the set grew.
    const size = this.#recent.size;
    if (this.#recent.add(dedupeKey).size === size) return true;
    this.#queueKeys.push(dedupeKey);
    this.#queueExpiry.push(now + this.dedupeWindowMs);
    return false;
  }

  /** Forgets the keys at the front of the queue whose expiry is <= now (stops at the first later one). */
  #sweep(now: number): void {
    const keys = this.#queueKeys;
    const expiry = this.#queueExpiry;
    let head = this.#queueHead;
    while (head < expiry.length && expiry[head]! <= now) this.#recent.delete(keys[head++]!);
    // Drop the consumed front once it is at least half the queue: each entry is copied O(1) times on average.
    if (head >= 1024 && head * 2 >= expiry.length) {
      this.#queueKeys = keys.slice(head);
      this.#queueExpiry = expiry.slice(head);
      head = 0;
    }
    this.#queueHead = head;
  }
}

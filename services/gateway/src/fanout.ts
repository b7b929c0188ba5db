/*
 * Over 300 lines: the per-notification delivery path (per-audience topic entries, counters tallied and
 * flushed on scrape) shares one hot state; split up, each delivery would pay an extra indirection (see
 * bench/results/changes.md for what each of these costs).
 */
import { randomInt } from "node:crypto";
import { AUDIENCE_KINDS, NodeMessage, toDelivered, type Notification } from "@tidings/contracts";
import { jsonProtocol, messagePackProtocol, type HubProtocol, type ProtocolName } from "@tidings/protocol";
import { hashString, hashUnits, unitsEqual } from "./code-units.js";
import type { HubConnection } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import { DedupeWindow } from "./dedupe-window.js";
import { deliveredJsonFrame, liveJsonFrame } from "./delivered-frame.js";
import type { EncodeFailures } from "./encode-failures.js";
import type { Membership } from "./hub.js";
import { TIMING_SAMPLE_EVERY, type GatewayMetrics } from "./metrics.js";

const PROTOCOLS: readonly HubProtocol[] = [jsonProtocol, messagePackProtocol];
/** Fanout#audiences keys: 30 bits, small integers in V8 (no heap number per lookup). */
const SLOT_MASK = 0x3fffffff;

/** A protocol with its counter children and the tallies not yet added to them (see Fanout#flushTallies). */
interface PerProtocol {
  readonly protocol: HubProtocol;
  readonly deliveriesCounter: { inc(n: number): void };
  readonly sentBytesCounter: { inc(n: number): void };
  readonly encodeSeconds: { observe(seconds: number): void };
  deliveries: number;
  sentBytes: number;
}

/**
 * An audience with at least one connection on this node. Built once per audience, so a delivery finds
 * its topic strings and member counts with one lookup instead of building and hashing a topic string
 * per protocol; the per-protocol numbers are fields, not arrays, so a delivery reads one object (with
 * many audiences each entry is a cache miss, and each array would be two more). Protocol index `i`
 * follows PROTOCOLS: 0 JSON, 1 MessagePack.
 */
class LocalAudience {
  /** the next audience with the same slot in Fanout#audiences */
  sameSlot: LocalAudience | undefined;
  readonly #messagePackTopic: string;
  /** member connections per protocol: 0 means that protocol's topic has no subscriber */
  #jsonMembers = 0;
  #messagePackMembers = 0;
  /** when fan-out last published to the protocol's topic (ms, 0: never), which keep-alive counts as a message sent */
  #jsonPublishedAt = 0;
  #messagePackPublishedAt = 0;

  constructor(
    /** the audience key, one string for the entry's lifetime; also its JSON topic */
    readonly key: string,
    /** its slot in Fanout#audiences (a 30-bit hash of the key) */
    readonly slot: number,
    sameSlot: LocalAudience | undefined,
  ) {
    this.sameSlot = sameSlot;
    this.#messagePackTopic = topicFor("messagepack", key);
  }

  topic(i: number): string {
    return i === 0 ? this.key : this.#messagePackTopic;
  }

  members(i: number): number {
    return i === 0 ? this.#jsonMembers : this.#messagePackMembers;
  }

  /** Adds `n` (±1) members of protocol `i`; returns whether any member of any protocol is left. */
  addMembers(i: number, n: number): boolean {
    if (i === 0) this.#jsonMembers += n;
    else this.#messagePackMembers += n;
    return this.#jsonMembers > 0 || this.#messagePackMembers > 0;
  }

  publishedAt(i: number): number {
    return i === 0 ? this.#jsonPublishedAt : this.#messagePackPublishedAt;
  }

  published(i: number, now: number): void {
    if (i === 0) this.#jsonPublishedAt = now;
    else this.#messagePackPublishedAt = now;
  }
}

/**
 * uWS topic of an audience for one protocol: a topic's subscribers all take the same bytes. JSON's is the
 * key itself (a delivery reads no other string), MessagePack's the key after `m|`, which no key starts with.
 */
export function topicFor(protocol: ProtocolName, key: string): string {
  return protocol === "json" ? key : "m|" + key;
}

/** One `add` per connection joining an audience, one `remove` per leaving (or closing) connection. */
export interface MembershipListener {
  add(key: string): void;
  remove(key: string): void;
}

/** The two uWS app calls fan-out needs; injected so the rest of the gateway never touches uWS. */
export interface TopicPublisher {
  /** True when the topic had a subscriber (uWS's own answer). */
  publish(topic: string, bytes: Uint8Array, binary: boolean): boolean;
  numSubscribers(topic: string): number;
}

/**
 * Delivers notifications to this node's connections. Each notification is encoded at most once per
 * protocol that has subscribers, then handed to uWS topic publish, which writes to every subscribed
 * socket in C++: no per-connection JS on the hot path. Also the audience-membership bookkeeping.
 */
export class Fanout implements Membership {
  /** (id, audience) of every notification delivered within the de-duplication window */
  readonly #recent: DedupeWindow;
  /**
   * Audiences with members on this node, by a seeded 30-bit hash of the audience id (a small integer:
   * a cheap `Map` key), each slot a chain through `sameSlot`. The hash is the same from the id's string
   * and from a framed node message's header bytes, so a node message finds its audience without making
   * the string.
   */
  readonly #audiences = new Map<number, LocalAudience>();
  readonly #seed = randomInt(2 ** 31);

  /** notifications delivered so far; picks the 1 in TIMING_SAMPLE_EVERY whose timings are observed */
  #deliveredCount = 0;

  /*
   * Counter tallies as plain numbers, added to their prom-client children (resolved once) by
   * #flushTallies, which metrics.ts runs before every read of those counters: exact when observed,
   * and no label hashing per notification.
   */
  readonly #perProtocol: ReadonlyArray<PerProtocol>;
  readonly #delivered: { inc(n: number): void };
  readonly #duplicates: { inc(n: number): void };
  #deliveredTally = 0;
  #duplicatesTally = 0;

  constructor(
    private readonly publisher: TopicPublisher,
    private readonly table: ConnectionTable,
    dedupeWindowMs: number,
    private readonly metrics: GatewayMetrics,
    /** Told of a notification a protocol cannot encode; fan-out skips it for that protocol and goes on. */
    private readonly encodeFailures: EncodeFailures,
    /** Told when this node's first connection joins an audience and when its last leaves (ref-counted there): the cluster registry. */
    private readonly membershipListener?: MembershipListener,
  ) {
    this.#recent = new DedupeWindow(dedupeWindowMs);
    this.#perProtocol = PROTOCOLS.map((protocol) => ({
      protocol,
      deliveriesCounter: metrics.deliveries.labels(protocol.name),
      sentBytesCounter: metrics.sentBytes.labels(protocol.name),
      encodeSeconds: metrics.encodeSeconds.labels(protocol.name),
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
    let local = this.#audience(key);
    if (local === undefined) {
      const slot = hashString(this.#seed, key) & SLOT_MASK;
      local = new LocalAudience(key, slot, this.#audiences.get(slot));
      this.#audiences.set(slot, local);
    }
    local.addMembers(this.#indexOf(connection), 1);
    this.membershipListener?.add(key);
    if (subscribeTopic) connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  subscribeTopics(connection: HubConnection): void {
    for (const key of connection.audiences) connection.transport?.subscribe(topicFor(connection.protocol!.name, key));
  }

  leave(connection: HubConnection, key: string): void {
    if (!connection.audiences.delete(key)) return;
    this.#left(key, this.#indexOf(connection));
    this.membershipListener?.remove(key);
    connection.transport?.unsubscribe(topicFor(connection.protocol!.name, key));
  }

  /**
   * Sends a notification to every local connection in its audience, once per (audience, id) within the
   * de-duplication window. Returns false when it was a duplicate. `wire`, when given, is the notification
   * as `notificationCodec` encoded it: see `deliverMessage`.
   */
  deliver(notification: Notification, now: number, wire?: Uint8Array): boolean {
    return this.deliverMessage(NodeMessage.of(notification, wire ?? null), now);
  }

  /**
   * `deliver` for a notification as a gateway node received it. A framed message carries the JSON
   * frame itself: JSON topics get a view of its bytes, and the notification is decoded only for a
   * MessagePack member or an encode fallback. From the notification's JSON (`message.json`) JSON frames
   * are spliced (delivered-frame.ts); otherwise written from the object's members (`liveJsonFrame`).
   */
  deliverMessage(message: NodeMessage, now: number): boolean {
    const byConnectionId = AUDIENCE_KINDS[message.audienceType].byConnectionId;
    const framed = message.framed;
    let local: LocalAudience | undefined;
    let duplicate: boolean;
    // The window keeps the audience entry's own key when there is one: no string per notification to
    // hold (and for the garbage collector to copy) for the whole window. A framed message is looked up
    // and recorded from its header's bytes: its id and audience id are never made into strings.
    if (framed === null) {
      const key = message.audienceId;
      local = byConnectionId ? undefined : this.#audience(key);
      duplicate = this.#recent.seen(message.id, local?.key ?? key, now);
    } else {
      const { idStart, idEnd, audienceIdEnd, wideStrings } = message;
      local = byConnectionId ? undefined : this.#audienceOf(framed, idEnd, audienceIdEnd, wideStrings);
      duplicate = this.#recent.seenBytes(framed, idStart, idEnd, wideStrings, local?.key ?? message.audienceId, now);
    }
    if (duplicate) {
      this.#duplicatesTally++;
      return false;
    }
    // Encode/fan-out timings and delivery latency for a sample only (metrics.ts TIMING_SAMPLE_EVERY); the first notification is in it.
    const timed = (this.#deliveredCount++ & (TIMING_SAMPLE_EVERY - 1)) === 0;
    const started = timed ? performance.now() : 0;
    if (byConnectionId) {
      const connection = this.table.byConnectionId(message.audienceId);
      if (connection?.state === "open") {
        const bytes = this.#encode(connection.protocol!, message);
        if (bytes !== null) {
          connection.sendMessage(bytes, now);
          const m = this.#perProtocol[this.#indexOf(connection)]!;
          m.deliveries += 1;
          m.sentBytes += bytes.byteLength;
        }
      }
    } else if (local !== undefined) {
      // (Without an entry no connection here is in the audience: nothing to encode or publish.)
      this.#publishToTopics(local, message, now, timed);
    }
    if (timed) {
      this.metrics.fanoutSeconds.observe((performance.now() - started) / 1000);
      const acceptedAt = Date.parse(message.timeStamp());
      if (acceptedAt <= now) this.metrics.deliveryLatency.observe((now - acceptedAt) / 1000);
    }
    this.#deliveredTally++;
    return true;
  }

  /** Publishes to the audience's topic of each protocol with members, encoding once per such protocol. */
  #publishToTopics(local: LocalAudience, message: NodeMessage, now: number, timed: boolean): void {
    for (let i = 0; i < PROTOCOLS.length; i++) {
      const members = local.members(i);
      // No connection of this protocol is in the audience: skip its topic.
      if (members === 0) continue;
      const m = this.#perProtocol[i]!;
      const protocol = m.protocol;
      const topic = local.topic(i);
      // One member (a user's only connection here, the common case): it is the topic's only possible
      // subscriber, and the publish says whether it is subscribed yet, so no subscriber count is asked for.
      const receivers = members === 1 ? 1 : this.publisher.numSubscribers(topic);
      if (receivers === 0) continue;
      let bytes: Uint8Array | null;
      if (timed) {
        const encodeStarted = performance.now();
        bytes = this.#encode(protocol, message);
        m.encodeSeconds.observe((performance.now() - encodeStarted) / 1000);
      } else {
        bytes = this.#encode(protocol, message);
      }
      if (bytes === null || !this.publisher.publish(topic, bytes, protocol.binary)) continue;
      local.published(i, now);
      m.deliveries += receivers;
      m.sentBytes += receivers * bytes.length;
    }
  }

  /** True when `id` to audience `audienceId` went through `deliver` within the de-duplication window. */
  delivered(audienceId: string, id: string): boolean {
    return this.#recent.has(id, audienceId);
  }

  /** A closed connection leaves every audience (uWS drops its topic subscriptions by itself). */
  forget(connection: HubConnection): void {
    if (this.membershipListener !== undefined) for (const key of connection.audiences) this.membershipListener.remove(key);
    if (connection.protocol !== null) {
      const index = this.#indexOf(connection);
      for (const key of connection.audiences) this.#left(key, index);
    }
    connection.audiences.clear();
  }

  /**
   * Sends a hub event (e.g. EventReadStatusChange) to every local connection in the audience. Events
   * are not de-duplicated: each is a distinct state change.
   */
  deliverEvent(key: string, target: string, payload: unknown): void {
    const local = this.#audience(key);
    if (local === undefined) return;
    for (let i = 0; i < PROTOCOLS.length; i++) {
      if (local.members(i) === 0) continue;
      const m = this.#perProtocol[i]!;
      const topic = local.topic(i);
      const receivers = this.publisher.numSubscribers(topic);
      if (receivers === 0) continue;
      this.publisher.publish(topic, m.protocol.encodeNotification(target, payload), m.protocol.binary);
      local.published(i, Date.now());
      m.deliveries += receivers;
    }
  }

  /** The last time fan-out published to a topic `connection` is subscribed to (0: never). */
  lastPublishedTo(connection: HubConnection): number {
    if (connection.protocol === null) return 0;
    const index = this.#indexOf(connection);
    let last = 0;
    for (const key of connection.audiences) last = Math.max(last, this.#audience(key)?.publishedAt(index) ?? 0);
    return last;
  }

  /** One connection of protocol `index` left audience `key`; the audience is forgotten with its last member. */
  #left(key: string, index: number): void {
    const local = this.#audience(key);
    if (local === undefined) return;
    if (local.addMembers(index, -1)) return;
    // Unlink it from its slot's chain.
    const first = this.#audiences.get(local.slot)!;
    if (first === local) {
      if (local.sameSlot === undefined) this.#audiences.delete(local.slot);
      else this.#audiences.set(local.slot, local.sameSlot);
      return;
    }
    let before = first;
    while (before.sameSlot !== local) before = before.sameSlot!;
    before.sameSlot = local.sameSlot;
  }

  /** The entry of audience `key`, if it has members here. */
  #audience(key: string): LocalAudience | undefined {
    let local = this.#audiences.get(hashString(this.#seed, key) & SLOT_MASK);
    while (local !== undefined && local.key !== key) local = local.sameSlot;
    return local;
  }

  /** `#audience` of the audience id `bytes[start, end)` (code units: see code-units.ts). */
  #audienceOf(bytes: Uint8Array, start: number, end: number, wide: boolean): LocalAudience | undefined {
    let local = this.#audiences.get(hashUnits(this.#seed, bytes, start, end, wide) & SLOT_MASK);
    while (local !== undefined && !unitsEqual(local.key, bytes, start, end, wide)) local = local.sameSlot;
    return local;
  }

  #indexOf(connection: HubConnection): number {
    return this.#perProtocol[0]!.protocol === connection.protocol ? 0 : 1;
  }

  /** The notification's frame in `protocol`, or null (reported) when that protocol cannot encode it. */
  #encode(protocol: HubProtocol, message: NodeMessage): Uint8Array | null {
    try {
      if (protocol === jsonProtocol) {
        if (message.jsonFrame !== null) return message.jsonFrame;
        const notification = message.notification();
        const frame = (message.json === null ? null : deliveredJsonFrame(notification, message.json)) ?? liveJsonFrame(notification);
        if (frame !== null) return frame;
      }
      const notification = message.notification();
      return protocol.encodeNotification(notification.type, toDelivered(notification, false));
    } catch (err) {
      this.encodeFailures.report({ id: message.id, routing: { audienceId: message.audienceId } }, protocol.name, err);
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
}

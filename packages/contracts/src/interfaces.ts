/**
 * The seams between gateway, router and store (docs/architecture.md §1). Each has an in-memory
 * implementation (standalone mode, unit tests) and a real one (NATS, JetStream, Postgres), and both
 * pass one conformance suite in `@tidings/testkit`. The doc comments are the guarantees that suite
 * checks; an implementation that cannot keep one is wrong, not "different".
 */
import type { DeliveredNotification } from "./delivered.js";
import type { Notification } from "./envelope.js";

// ---------------------------------------------------------------------------------------------
// Bus: core publish/subscribe and request-reply (NATS core; MemoryBus in one process)
// ---------------------------------------------------------------------------------------------

/** Message headers. Names are case-sensitive as given; values are single strings without CR or LF. */
export type BusHeaders = Readonly<Record<string, string>>;

export interface BusMessage {
  /** The subject it was published to (never a wildcard). */
  readonly subject: string;
  /** The payload, exactly the bytes published. The receiver must not mutate it. */
  readonly data: Uint8Array;
  /** Null when the publisher sent none. */
  readonly headers: BusHeaders | null;
  /** Where to publish the answer when this is a request; null for a plain publish. */
  readonly reply: string | null;
}

export interface BusSubscription {
  /** The subject or pattern subscribed to. */
  readonly subject: string;
  /** Stops delivery: after it returns the handler is not called again. Idempotent. */
  unsubscribe(): void;
}

export interface BusSubscribeOptions {
  /** Queue group: each message goes to exactly one subscriber of the group instead of all of them. */
  queue?: string;
}

export interface Bus {
  /**
   * Fire-and-forget, **at most once** to every subscription whose pattern matches `subject` at the
   * moment of publishing (none: dropped silently). Messages from one Bus to one subject reach each
   * subscriber in publish order; across subjects there is no order. Never throws for lack of
   * subscribers; throws only when the bus is closed.
   */
  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void;
  /**
   * Calls `handler` for every matching message, one at a time in arrival order (`*` matches one
   * token, `>` one or more trailing tokens). The subscription is active at the server when this
   * returns a value (MemoryBus: immediately; NatsBus: after the SUB is flushed, so await `flush()`
   * before relying on it cluster-wide). The bus does not await a returned promise; a throw or a
   * rejection is reported to the implementation's error log and does not end the subscription.
   */
  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>, opts?: BusSubscribeOptions): BusSubscription;
  /**
   * Request-reply: publishes with a fresh reply subject and resolves with the first answer. Rejects
   * with an Error named `NoRespondersError` at once when nobody subscribes to `subject`, and with one
   * named `TimeoutError` after `timeoutMs` milliseconds without an answer. At most once: a timed-out
   * request may still have been processed.
   */
  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: BusHeaders }): Promise<BusMessage>;
  /** Resolves when everything published and subscribed so far has reached the server (round trip). */
  flush(): Promise<void>;
  /**
   * Drains: stops subscriptions, lets handlers already called finish, flushes pending publishes,
   * then closes. Later calls to publish/subscribe/request throw. Idempotent.
   */
  close(): Promise<void>;
}

// ---------------------------------------------------------------------------------------------
// IngestQueue: durable, de-duplicating input of producer envelopes (JetStream stream TIDINGS)
// ---------------------------------------------------------------------------------------------

export interface IngestPublishResult {
  /** True when `msgId` was already stored within the duplicate window; nothing new was stored. */
  duplicate: boolean;
  /** Stream sequence of the stored message (of the earlier one for a duplicate). */
  seq: number;
}

export interface IngestMessage {
  readonly subject: string;
  readonly data: Uint8Array;
  /** Includes `Nats-Msg-Id` and, for MessagePack bodies, `Content-Type: application/msgpack`. */
  readonly headers: BusHeaders | null;
  /** 1 on first delivery, 2 on the first redelivery, … */
  readonly deliveryCount: number;
  /** Done: the message is never delivered again. Resolves when the queue has recorded the ack. */
  ack(): Promise<void>;
  /** Not done: redeliver after `delayMs` milliseconds (0: as soon as possible). */
  nak(delayMs?: number): void;
  /** Still working: restarts the ack-wait timer so the message is not redelivered meanwhile. */
  working(): void;
}

export interface IngestConsumer {
  /**
   * Stops fetching new messages, waits for the handlers already running to settle, then resolves.
   * Messages fetched but not acked are redelivered to another consumer. Idempotent.
   */
  stop(): Promise<void>;
}

export interface IngestQueue {
  /**
   * Durable publish: resolves only after the queue has stored the message (JetStream publish ack),
   * so a resolved promise means "accepted" and survives a process crash. A second publish with the
   * same `msgId` within the duplicate window stores nothing and resolves with `duplicate: true`.
   * Rejects when the queue cannot store it; then nothing was accepted and the caller may retry with
   * the same `msgId`.
   */
  publish(subject: string, data: Uint8Array, opts: { msgId: string; headers?: BusHeaders }): Promise<IngestPublishResult>;
  /**
   * Competing consumers on one durable consumer: each stored message is handed to one handler of
   * one consumer, **at least once**, until a handler acks it; a message not acked within the
   * ack-wait time (or whose handler rejects) is redelivered, possibly to another consumer. Messages
   * are handed out in stream order, but with `maxInFlight` above 1 handlers overlap and may finish
   * in any order; redeliveries come after newer messages. Handlers must therefore be idempotent.
   */
  consume(handler: (msg: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): IngestConsumer;
}

// ---------------------------------------------------------------------------------------------
// NotificationStore: persisted notifications and per-user receipts (Postgres / PGlite)
// ---------------------------------------------------------------------------------------------

export type SaveResult = "stored" | "duplicate" | "expired";

/**
 * One notification's outcome in `saveMany`: its `SaveResult`, or the reason the store refuses it
 * for good (invalid arguments, or data the database rejects); retrying that one fails again.
 */
export type SaveOutcome = { ok: true; result: SaveResult } | { ok: false; error: string };

export interface ReplayQuery {
  /** Whose receipts apply; null for an anonymous connection (nothing skipped, isRead false). */
  userId: string | null;
  /** Audience keys to replay; unknown keys simply contribute nothing. */
  audiences: readonly string[];
  /** Most notifications per audience (TIDINGS_REPLAY_LIMIT). */
  limit: number;
  /** What "unexpired" is measured against. */
  now: Date;
  /**
   * Only notifications the store received at or after this instant (the store's clock); all when
   * absent. A gateway catching up after its NATS connection broke asks only for what it may have missed.
   */
  since?: Date;
}

interface StateChangeBase {
  userId: string;
  audienceId: string;
  notificationId: string;
  /** Time of the change; also what "unexpired" is measured against. */
  now: Date;
}

/** Exactly one of `read` or `deleted` per call, so a change maps to exactly one event. */
export type StateChange = (StateChangeBase & { read: boolean; deleted?: never }) | (StateChangeBase & { deleted: true; read?: never });

export interface StateChangeResult {
  /** False when no stored, unexpired notification has that audience and id (contract: NotFound). */
  found: boolean;
  /** True only when the user's state differs from before; then (and only then) send the event. */
  changed: boolean;
  /** ISO-8601 UTC: `now` when changed, else when the current state was set (`now` if never). */
  changedAt: string;
}

export interface ListQuery {
  userId: string;
  /** Audience keys to cover, e.g. `user:u`, `global`, `tenant:t` (the caller decides which). */
  audiences: readonly string[];
  /** Only notifications this user has not read. */
  unreadOnly: boolean;
  /** Page size, 1 or more. */
  limit: number;
  /** From a previous page's `nextCursor`; null for the first page. Opaque to callers. */
  cursor: string | null;
  now: Date;
}

export interface ListPage {
  /** Newest first by (timeStamp, id, audienceId) descending; none deleted by the user or expired. */
  items: DeliveredNotification[];
  /** Unread, undeleted, unexpired notifications of these audiences for this user, over all pages. */
  unreadCount: number;
  /** Null when this is the last page. */
  nextCursor: string | null;
}

export interface NotificationStore {
  /**
   * Stores a persisted notification under (audienceId, id). Idempotent: the same (audience, id)
   * again changes nothing and yields `duplicate`, whatever its content. `expired` when
   * `persistedTTL` is at or before the store's clock: nothing is stored (deliver live only).
   * Precondition: `metadata.isPersisted` is true and `persistedTTL` is set. Resolves only after the
   * row is durable.
   */
  save(n: Notification): Promise<SaveResult>;
  /**
   * `save` for several notifications in one round trip, with the same idempotency and
   * preconditions: resolves with one outcome per notification, in order, only after every stored
   * row is durable. One refused notification does not fail the others. The same (audience, id)
   * twice in one call is stored once (`stored`, then `duplicate`). Rejects when the store could not
   * answer (down, timeout): then any of them may or may not be stored, and retrying is safe.
   */
  saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]>;
  /**
   * The newest `limit` stored, unexpired notifications of each audience that `userId` has not
   * deleted, merged and ordered **oldest first** by (timeStamp, id, audienceId), with `isRead` from
   * that user's receipts. A notification stored in several audiences appears once per audience
   * (each with its own `audienceId`). Read-only.
   */
  replay(q: ReplayQuery): Promise<DeliveredNotification[]>;
  /**
   * Sets one user's read or deleted state of one stored, unexpired notification. Deletion is final:
   * once deleted, later calls change nothing (`changed: false`). Concurrent calls for the same
   * (user, audience, id) are serialised; exactly one of two identical changes reports `changed`.
   */
  setState(q: StateChange): Promise<StateChangeResult>;
  /** One page of a user's stored notifications with read flags, for the read API (docs/contract.md §8). */
  listForUser(q: ListQuery): Promise<ListPage>;
  /**
   * Deletes up to `batch` notifications whose `persistedTTL` is at or before `now`, with their
   * receipts, and returns how many were deleted; call again while it returns `batch`. Expired rows
   * are never replayed or listed even before they are swept.
   */
  expire(now: Date, batch: number): Promise<number>;
}

// ---------------------------------------------------------------------------------------------
// AudienceRegistry: which gateway nodes hold a connection in which audience (router side)
// ---------------------------------------------------------------------------------------------

/**
 * A node's membership change, published on `tidings.v1.registry.delta`. `added` keys gained their
 * first local connection, `removed` keys lost their last one. `seq` counts a node's deltas: it starts
 * at 1 and grows by exactly 1 per delta; heartbeats and snapshots carry the last delta's `seq`.
 */
export interface RegistryDelta {
  kind: "delta";
  nodeId: string;
  seq: number;
  added: readonly string[];
  removed: readonly string[];
}

/** Liveness, every few seconds: the node's last delta `seq` and a digest of its whole key set. */
export interface RegistryHeartbeat {
  kind: "heartbeat";
  nodeId: string;
  seq: number;
  /** Order-independent digest of the node's keys; equal key sets give equal digests. */
  digest: string;
  /**
   * Node-message formats the node reads besides the notification's JSON (`FRAMED_NODE_MESSAGES`);
   * absent from nodes that read only that JSON.
   */
  nodeMessages?: readonly string[];
}

/** A node's complete key set as of `seq` (answer to `tidings.v1.registry.snapshot.<nodeId>`). */
export interface RegistrySnapshot {
  kind: "snapshot";
  nodeId: string;
  seq: number;
  keys: readonly string[];
  digest: string;
  /** As in `RegistryHeartbeat`. */
  nodeMessages?: readonly string[];
}

export type RegistryMessage = RegistryDelta | RegistryHeartbeat | RegistrySnapshot;

/** `applied`: state updated; `stale`: old or repeated, ignored; `needs-snapshot`: not applied, ask the node for a snapshot. */
export type RegistryApplyResult = "applied" | "stale" | "needs-snapshot";

export interface AudienceRegistry {
  /**
   * Applies a delta whose `seq` is exactly the node's last + 1. A `seq` at or below the last is
   * `stale` (duplicates are harmless); a gap or an unknown node is `needs-snapshot` and changes
   * nothing, so the registry never holds a partial view it does not know is partial.
   */
  applyDelta(d: RegistryDelta): RegistryApplyResult;
  /**
   * Replaces the node's whole key set (and registers the node as live). A snapshot whose `seq` is
   * below the node's last applied `seq` is `stale`.
   */
  applySnapshot(s: RegistrySnapshot): RegistryApplyResult;
  /**
   * Records that the node is alive at `nowMs` (epoch milliseconds). `needs-snapshot` when the node
   * is unknown, its `seq` is ahead of the last applied, or its digest differs at the same `seq`.
   */
  applyHeartbeat(h: RegistryHeartbeat, nowMs: number): RegistryApplyResult;
  /**
   * Nodes holding at least one connection in audience `key`; for `global`, every live node. A live
   * read-only view (no copy, O(1)): iterate it before the next apply/drop call and never mutate it.
   * Empty when none. Connection audiences are not tracked here: their key names the owner node.
   */
  nodesFor(key: string): ReadonlySet<string>;
  /** All live nodes, under the same view rules as `nodesFor`. */
  liveNodes(): ReadonlySet<string>;
  /**
   * Live nodes whose last snapshot or heartbeat announced `FRAMED_NODE_MESSAGES`: the nodes a router
   * may send framed node messages; every other node gets the notification's JSON. Same view rules.
   */
  framedNodes(): ReadonlySet<string>;
  /** Forgets the node and all its keys at once (node gone, or before re-learning it). Idempotent. */
  dropNode(nodeId: string): void;
  /**
   * Drops every node whose last heartbeat or snapshot is older than `maxSilenceMs` before `nowMs`
   * (three heartbeat intervals), and returns their ids.
   */
  dropSilent(nowMs: number, maxSilenceMs: number): string[];
  /** Number of (key, node) memberships held; for the memory-per-key metric. */
  size(): number;
}

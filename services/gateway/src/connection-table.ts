import type { HubConnection } from "./connection.js";
import { isPolled } from "./transport/transport.js";

/**
 * This node's connections, by public connection id and by the `id` clients use on transport requests.
 * A version-1 connection is found only by its token; its public connection id is not a valid `id`
 * (docs/protocol.md §2.3). A connection that ended leaves a tombstone for `tombstoneMs` (docs/protocol.md §3.1); one
 * dropped before it ever had a transport leaves none (docs/protocol.md §2.5), nor does one opened without
 * negotiate (its id was never sent: a connect-and-close storm keeps no ended connections in memory).
 */
export class ConnectionTable {
  readonly #byId = new Map<string, HubConnection>();
  readonly #byToken = new Map<string, HubConnection>();
  readonly #perUser = new Map<string, number>();
  /**
   * transport id → ended connection (null unless it was long polling: only a poll's answer reads it) and its
   * tombstone's expiry; insertion order is expiry order (fixed window)
   */
  readonly #ended = new Map<string, { connection: HubConnection | null; expiresAt: number }>();

  constructor(private readonly tombstoneMs: number) {}

  get size(): number {
    return this.#byId.size;
  }

  add(connection: HubConnection): void {
    this.#byId.set(connection.id, connection);
    this.#byToken.set(connection.token, connection);
    const userId = connection.identity.userId;
    if (userId !== null) this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
  }

  /** Removes a connection, leaving a tombstone when it ended (state "closed"); safe to call more than once. */
  remove(connection: HubConnection): void {
    if (this.#byId.get(connection.id) !== connection) return;
    this.#byId.delete(connection.id);
    this.#byToken.delete(connection.token);
    // skipNegotiation: the client never learned this connection's id, so no request can name it.
    if (connection.state === "closed" && connection.negotiateVersion !== null) {
      const now = Date.now();
      this.#purgeTombstones(now);
      const kept = isPolled(connection.transport) ? connection : null;
      this.#ended.set(connection.token, { connection: kept, expiresAt: now + this.tombstoneMs });
    }
    const userId = connection.identity.userId;
    if (userId !== null) {
      const left = (this.#perUser.get(userId) ?? 1) - 1;
      if (left === 0) this.#perUser.delete(userId);
      else this.#perUser.set(userId, left);
    }
  }

  /** The connection a transport request's `id` names, if it lives on this node. */
  byTransportId(id: string): HubConnection | undefined {
    return this.#byToken.get(id);
  }

  /**
   * The ended connection a transport request's `id` names, while its tombstone lasts: the connection when
   * it was long polling, null for another transport (nothing of it is kept), undefined without a tombstone.
   */
  endedByTransportId(id: string, now: number): HubConnection | null | undefined {
    this.#purgeTombstones(now);
    return this.#ended.get(id)?.connection;
  }

  /** The connection with this public id (the Connection audience key). */
  byConnectionId(id: string): HubConnection | undefined {
    return this.#byId.get(id);
  }

  connectionsOf(userId: string): number {
    return this.#perUser.get(userId) ?? 0;
  }

  values(): IterableIterator<HubConnection> {
    return this.#byId.values();
  }

  #purgeTombstones(now: number): void {
    for (const [id, tombstone] of this.#ended) {
      if (tombstone.expiresAt > now) break;
      this.#ended.delete(id);
    }
  }
}

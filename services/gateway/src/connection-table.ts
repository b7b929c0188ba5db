import type { HubConnection } from "./connection.js";

/**
 * This node's connections, by public connection id and by the `id` clients use on transport requests.
 * A version-1 connection is found only by its token; its public connection id is not a valid `id`
 * (wire spec §2.3).
 */
export class ConnectionTable {
  readonly #byId = new Map<string, HubConnection>();
  readonly #byToken = new Map<string, HubConnection>();
  readonly #perUser = new Map<string, number>();

  get size(): number {
    return this.#byId.size;
  }

  add(connection: HubConnection): void {
    this.#byId.set(connection.id, connection);
    this.#byToken.set(connection.token, connection);
    const userId = connection.identity.userId;
    if (userId !== null) this.#perUser.set(userId, (this.#perUser.get(userId) ?? 0) + 1);
  }

  /** Removes a connection; safe to call more than once. */
  remove(connection: HubConnection): void {
    if (this.#byId.get(connection.id) !== connection) return;
    this.#byId.delete(connection.id);
    this.#byToken.delete(connection.token);
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
}

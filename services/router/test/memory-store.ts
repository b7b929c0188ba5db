import { StoreRefusedError, type DeliveredNotification, type ListPage, type Notification, type NotificationStore, type SaveResult, type StateChangeResult } from "@tidings/contracts";

/**
 * A `NotificationStore` for router tests: `save` is idempotent on (audience, id) as the contract
 * requires and counts every call; `failNext` makes the next saves reject and `down` every save,
 * as a store outage would; `refuse` names notification ids the store refuses for good.
 * The read side is not used by the router and refuses to be called.
 */
export class CountingStore implements NotificationStore {
  readonly stored = new Map<string, Notification>();
  /** Calls per (audience, id), duplicates included. */
  readonly calls = new Map<string, number>();
  saves = 0;
  failNext = 0;
  down = false;
  delayMs = 0;
  readonly refuse = new Set<string>();

  static key(n: Pick<Notification, "id" | "routing">): string {
    return `${n.routing.audienceId}\u0000${n.id}`;
  }

  async save(n: Notification): Promise<SaveResult> {
    this.saves++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    if (this.down || this.failNext > 0) {
      if (!this.down) this.failNext--;
      throw new Error("store unavailable (test)");
    }
    if (this.refuse.has(n.id)) throw new StoreRefusedError(`store save: the database refuses ${n.id} (test)`);
    const key = CountingStore.key(n);
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    if (this.stored.has(key)) return "duplicate";
    this.stored.set(key, n);
    return "stored";
  }

  replay(): Promise<DeliveredNotification[]> {
    return Promise.reject(new Error("not used by the router"));
  }
  setState(): Promise<StateChangeResult> {
    return Promise.reject(new Error("not used by the router"));
  }
  listForUser(): Promise<ListPage> {
    return Promise.reject(new Error("not used by the router"));
  }
  expire(): Promise<number> {
    return Promise.reject(new Error("not used by the router"));
  }
}

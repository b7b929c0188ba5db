import {
  StoreRefusedError,
  type DeliveredNotification,
  type ListPage,
  type ListQuery,
  type Notification,
  type NotificationStore,
  type ReplayQuery,
  type SaveOutcome,
  type SaveResult,
  type StateChange,
  type StateChangeResult,
} from "@tidings/contracts";

/**
 * A `NotificationStore` for fault tests: passes every call to `inner` (a `MemoryNotificationStore`,
 * say) unless told otherwise. `down` fails every call as an outage would; `refuse` names notification
 * ids whose save is refused for good (`StoreRefusedError`); `delayMs` slows each save; `saves`
 * counts notifications handed to `save` or `saveMany`, failed ones included; `batches` records the
 * size of each `saveMany` call. A batch fails as a whole when `down`; a refused id fails alone.
 */
export class FaultyStore<S extends NotificationStore = NotificationStore> implements NotificationStore {
  saves = 0;
  readonly batches: number[] = [];
  down = false;
  delayMs = 0;
  readonly refuse = new Set<string>();

  constructor(readonly inner: S) {}

  async save(n: Notification): Promise<SaveResult> {
    this.saves++;
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.#check();
    if (this.refuse.has(n.id)) throw new StoreRefusedError(`store save: the database refuses ${n.id} (test)`);
    return this.inner.save(n);
  }
  async saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    this.saves += ns.length;
    this.batches.push(ns.length);
    if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
    this.#check();
    const outcomes: SaveOutcome[] = [];
    for (const n of ns) {
      if (this.refuse.has(n.id)) outcomes.push({ ok: false, error: `store save: the database refuses ${n.id} (test)` });
      else outcomes.push(...(await this.inner.saveMany([n])));
    }
    return outcomes;
  }
  async replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    this.#check();
    return this.inner.replay(q);
  }
  async setState(q: StateChange): Promise<StateChangeResult> {
    this.#check();
    return this.inner.setState(q);
  }
  async listForUser(q: ListQuery): Promise<ListPage> {
    this.#check();
    return this.inner.listForUser(q);
  }
  async expire(now: Date, batch: number): Promise<number> {
    this.#check();
    return this.inner.expire(now, batch);
  }

  #check(): void {
    if (this.down) throw new Error("store unavailable (test)");
  }
}

import {
  StoreUnavailableError,
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
import { isPermanentStoreFailure } from "./refused.js";

/**
 * The in-process store as the standalone gateway calls it, failing the way the store service fails in
 * a cluster: a call the database has not answered within `timeoutMs` (a frozen server keeps its
 * connections open and answers nothing), or one that failed for any reason but bad arguments
 * (`RangeError`) or data the database refuses for good, rejects with `StoreUnavailableError`. So HTTP
 * ingest and the read API answer 503 and hub methods fail within the deadline instead of hanging. A
 * query given up on still runs once the database answers: a save may land after its 503, which the
 * producer's retry with the same ids makes harmless (saves are idempotent, delivery de-duplicated).
 * `expire` (the sweeper's, in the background) is passed through unchanged.
 */
export function withDeadline(store: NotificationStore, timeoutMs: number): NotificationStore {
  return new DeadlineStore(store, timeoutMs);
}

class DeadlineStore implements NotificationStore {
  constructor(
    private readonly inner: NotificationStore,
    private readonly timeoutMs: number,
  ) {}

  save(n: Notification): Promise<SaveResult> {
    return this.#call("save", () => this.inner.save(n));
  }
  saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    return this.#call("saveMany", () => this.inner.saveMany(ns));
  }
  replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    return this.#call("replay", () => this.inner.replay(q));
  }
  setState(q: StateChange): Promise<StateChangeResult> {
    return this.#call("setState", () => this.inner.setState(q));
  }
  listForUser(q: ListQuery): Promise<ListPage> {
    return this.#call("listForUser", () => this.inner.listForUser(q));
  }
  expire(now: Date, batch: number): Promise<number> {
    return this.inner.expire(now, batch);
  }

  #call<T>(op: string, run: () => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new StoreUnavailableError(`store ${op}: no answer from the database within ${this.timeoutMs} ms`)),
        this.timeoutMs,
      );
      run().then(
        (value) => {
          clearTimeout(timer);
          resolve(value);
        },
        (err: unknown) => {
          clearTimeout(timer);
          reject(
            err instanceof Error && isPermanentStoreFailure(err)
              ? err
              : new StoreUnavailableError(`store ${op}: ${err instanceof Error ? err.message : String(err)}`, { cause: err }),
          );
        },
      );
    });
  }
}

import { StoreRefusedError, type Notification, type NotificationStore, type SaveResult } from "@tidings/contracts";

export interface SaveBatcherOptions {
  /** Most notifications in one batch (default 128). */
  maxCount?: number;
  /**
   * Most ingest bytes in one batch (default 256 KiB): a batch is sent before a notification would
   * take it past this, so a batch exceeds it only when one notification alone does. Kept well below
   * NATS's default 1 MiB payload limit, leaving room for the stored form being larger than the
   * ingest bytes (added fields, MessagePack numbers written as JSON).
   */
  maxBytes?: number;
}

interface Pending {
  n: Notification;
  resolve: (result: SaveResult) => void;
  reject: (err: unknown) => void;
}

/**
 * Coalesces the saves asked for within one event-loop turn into one `saveMany` call: the batch
 * goes out once the turn's I/O callbacks have run (`setImmediate`), or at once when it reaches
 * `maxCount` notifications or `maxBytes`. Each caller gets its own notification's outcome: its
 * `SaveResult`, a `StoreRefusedError` when the store refused that one for good, or the batch's
 * error when the store could not answer (then every notification of the batch gets it).
 */
export class SaveBatcher {
  readonly #store: NotificationStore;
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #batch: Pending[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(store: NotificationStore, opts: SaveBatcherOptions = {}) {
    this.#store = store;
    this.#maxCount = Math.max(1, opts.maxCount ?? 128);
    this.#maxBytes = opts.maxBytes ?? 256 * 1024;
  }

  /** Saves `n` (`bytes`: its size as received) in the next batch; settles when that batch is answered. */
  save(n: Notification, bytes: number): Promise<SaveResult> {
    if (this.#batch.length > 0 && this.#bytes + bytes > this.#maxBytes) this.#flush();
    return new Promise<SaveResult>((resolve, reject) => {
      this.#batch.push({ n, resolve, reject });
      this.#bytes += bytes;
      if (this.#batch.length >= this.#maxCount) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flushScheduled);
      }
    });
  }

  readonly #flushScheduled = (): void => {
    this.#scheduled = false;
    this.#flush();
  };

  #flush(): void {
    const batch = this.#batch;
    if (batch.length === 0) return;
    this.#batch = [];
    this.#bytes = 0;
    void this.#send(batch);
  }

  async #send(batch: Pending[]): Promise<void> {
    try {
      const outcomes = await this.#store.saveMany(batch.map((p) => p.n));
      batch.forEach((p, i) => {
        const o = outcomes[i];
        if (o === undefined) p.reject(new Error(`store saveMany: no outcome for notification ${i + 1} of ${batch.length}`));
        else if (o.ok) p.resolve(o.result);
        else p.reject(new StoreRefusedError(o.error));
      });
    } catch (err) {
      for (const p of batch) p.reject(err);
    }
  }
}

import { StoreRefusedError, type Notification, type NotificationStore, type SaveOutcome, type SaveResult } from "@tidings/contracts";

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

/** One save: the notification and its size as received. */
export interface BatchedSave {
  readonly n: Notification;
  readonly bytes: number;
}

/** Where each save's outcome goes, called synchronously for every save of a batch once it is answered; they must not throw. */
export interface SaveOutcomeHandlers<T extends BatchedSave> {
  saved(item: T, result: SaveResult): void;
  /** A `StoreRefusedError` when the store refused that one for good, or the batch's error when the store could not answer. */
  failed(item: T, error: unknown): void;
}

/**
 * Coalesces the saves asked for within one event-loop turn into one `saveMany` call: the batch
 * goes out once the turn's I/O callbacks have run (`setImmediate`), or at once when it reaches
 * `maxCount` notifications or `maxBytes`. Each save's outcome is handed to `handlers` in one
 * synchronous pass over the batch (no promise per save): its `SaveResult`, a `StoreRefusedError` when
 * the store refused that one for good, or the batch's error when the store could not answer (then
 * every save of the batch gets it).
 */
export class SaveBatcher<T extends BatchedSave> {
  readonly #store: NotificationStore;
  readonly #handlers: SaveOutcomeHandlers<T>;
  readonly #maxCount: number;
  readonly #maxBytes: number;
  #batch: T[] = [];
  #bytes = 0;
  #scheduled = false;

  constructor(store: NotificationStore, handlers: SaveOutcomeHandlers<T>, opts: SaveBatcherOptions = {}) {
    this.#store = store;
    this.#handlers = handlers;
    this.#maxCount = Math.max(1, opts.maxCount ?? 128);
    this.#maxBytes = opts.maxBytes ?? 256 * 1024;
  }

  /** Saves `item.n` in the next batch; its outcome goes to the handlers once that batch is answered. */
  save(item: T): void {
    if (this.#batch.length > 0 && this.#bytes + item.bytes > this.#maxBytes) this.#flush();
    this.#batch.push(item);
    this.#bytes += item.bytes;
    if (this.#batch.length >= this.#maxCount) this.#flush();
    else if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushScheduled);
    }
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
    const ns = new Array<Notification>(batch.length);
    for (let i = 0; i < batch.length; i++) ns[i] = batch[i]!.n;
    let answer: Promise<SaveOutcome[]>;
    try {
      answer = this.#store.saveMany(ns);
    } catch (err) {
      // A store whose saveMany throws instead of rejecting: the same as a batch it could not answer.
      this.#failAll(batch, err);
      return;
    }
    void answer.then(
      (outcomes) => this.#answered(batch, outcomes),
      (err: unknown) => this.#failAll(batch, err),
    );
  }

  #answered(batch: readonly T[], outcomes: readonly SaveOutcome[]): void {
    const handlers = this.#handlers;
    for (let i = 0; i < batch.length; i++) {
      const item = batch[i]!;
      const o = outcomes[i];
      if (o === undefined) handlers.failed(item, new Error(`store saveMany: no outcome for notification ${i + 1} of ${batch.length}`));
      else if (o.ok) handlers.saved(item, o.result);
      else handlers.failed(item, new StoreRefusedError(o.error));
    }
  }

  #failAll(batch: readonly T[], err: unknown): void {
    for (const item of batch) this.#handlers.failed(item, err);
  }
}

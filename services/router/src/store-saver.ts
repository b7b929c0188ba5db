import { isPermanentStoreError, type Notification, type NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { RouterMetrics } from "./metrics.js";
import { SaveBatcher, type BatchedSave, type SaveBatcherOptions } from "./save-batcher.js";
import { StoreGate } from "./store-gate.js";

export interface StoreSaverOptions {
  /** First pause between store probes while the store is down. */
  probeMinMs: number;
  /** Longest pause between store probes; the pause doubles per failed probe up to this. */
  probeMaxMs: number;
  /** Bounds of one batch of saves. */
  batch?: SaveBatcherOptions | undefined;
}

export type Saved = { kind: "saved" } | { kind: "stopped" } | { kind: "refused"; error: unknown };
const SAVED: Saved = { kind: "saved" };
const STOPPED: Saved = { kind: "stopped" };

/** A save and where its outcome goes (called once, synchronously when its batch is answered). */
export interface SaveRequest extends BatchedSave {
  settle(saved: Saved): void;
}

export interface StoreSaver {
  /** Saves `req.n`, holding it for as long as the store is down; `req.settle` gets the outcome. */
  save(req: SaveRequest): void;
  /** Releases every held save with `stopped` and stops probing. */
  close(): void;
}

/**
 * The router's store saves. Saves go out in batches (`SaveBatcher`). A transient failure (store
 * down, timeout) holds the notification, not its message's delivery: the gate closes, every save
 * asked for meanwhile waits before it reaches the store, one probe at a time checks the store
 * (`ping` when it has one, else a save of a held notification), and the first success releases
 * every waiter at once, which retries (for as long as it takes). A permanent refusal is settled as
 * `refused`, for that notification only. "expired" counts as saved: delivered live and not stored
 * (docs/contract.md §6).
 */
export function createStoreSaver(deps: {
  store: NotificationStore & { ping?: () => Promise<void> };
  log: Logger;
  metrics: RouterMetrics;
  /** Persisted messages waiting for their save, for the log line when the store is back. */
  heldCount: () => number;
  options: StoreSaverOptions;
}): StoreSaver {
  const { store, log, metrics, heldCount, options } = deps;
  /** Probes with a save when the store has no `ping`: of the notification that found it down. */
  let probeWith: Notification | null = null;
  let downSince = 0;
  const gate = new StoreGate({
    probe: async () => {
      metrics.storeProbes.inc();
      if (store.ping !== undefined) await store.ping();
      else if (probeWith !== null) {
        // A refusal is an answer: the store is up (that row is dealt with when its message retries).
        await store.save(probeWith).catch((err: unknown) => {
          if (!isPermanentStoreError(err)) throw err;
        });
      }
    },
    probeMinMs: options.probeMinMs,
    probeMaxMs: options.probeMaxMs,
    onChange: (up) => {
      if (!up) downSince = Date.now();
      else log.info({ downMs: Date.now() - downSince, held: heldCount() }, "store answers again; releasing held notifications");
    },
  });

  /** Waits for the gate to open, then saves again; `stopped` when the gate was closed instead. */
  const saveWhenUp = (req: SaveRequest): void => {
    void gate.whenUp().then((up) => (up ? batcher.save(req) : req.settle(STOPPED)));
  };

  const batcher = new SaveBatcher<SaveRequest>(
    store,
    {
      saved: (req) => req.settle(SAVED),
      // Refused for good, or the store is down and the save waits for it.
      failed: (req, error) => {
        if (isPermanentStoreError(error)) {
          req.settle({ kind: "refused", error });
          return;
        }
        metrics.storeFailures.inc();
        if (!gate.down) {
          log.warn(
            { err: error, id: req.n.id, audienceId: req.n.routing.audienceId },
            "store did not take a persisted notification; holding persisted notifications until a probe finds it up",
          );
        }
        probeWith = req.n;
        gate.markDown();
        saveWhenUp(req);
      },
    },
    options.batch,
  );

  return {
    // The usual case (the store is up) goes straight into the next batch.
    save: (req) => (gate.down ? saveWhenUp(req) : batcher.save(req)),
    close() {
      gate.close();
    },
  };
}

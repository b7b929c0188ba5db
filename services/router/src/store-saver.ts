import { isPermanentStoreError, type Notification, type NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { RouterMetrics } from "./metrics.js";
import { SaveBatcher, type SaveBatcherOptions } from "./save-batcher.js";
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

export interface StoreSaver {
  /** Saves `n` (`bytes`: its size as received), holding it for as long as the store is down. */
  save(n: Notification, bytes: number): Promise<Saved>;
  /** Since when (epoch ms) each persisted message in this router has waited for its save; the router adds and removes them. */
  readonly held: Set<{ since: number }>;
  /** Releases every held save with `stopped` and stops probing. */
  close(): void;
}

/**
 * The router's store saves. Saves go out in batches (`SaveBatcher`). A transient failure (store
 * down, timeout) holds the notification, not its message's delivery: the gate closes, every save
 * asked for meanwhile waits before it reaches the store, one probe at a time checks the store
 * (`ping` when it has one, else a save of a held notification), and the first success releases
 * every waiter at once, which retries (for as long as it takes). A permanent refusal is returned as `refused`, for that
 * notification only.
 */
export function createStoreSaver(deps: {
  store: NotificationStore & { ping?: () => Promise<void> };
  log: Logger;
  metrics: RouterMetrics;
  options: StoreSaverOptions;
}): StoreSaver {
  const { store, log, metrics, options } = deps;
  const batcher = new SaveBatcher(store, options.batch);
  const held = new Set<{ since: number }>();
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
      else log.info({ downMs: Date.now() - downSince, held: held.size }, "store answers again; releasing held notifications");
    },
  });

  /** A failed save: refused for good, or the store is down and the save waits for it. */
  const failed = (n: Notification, bytes: number, error: unknown): Saved | Promise<Saved> => {
    if (isPermanentStoreError(error)) return { kind: "refused", error };
    metrics.storeFailures.inc();
    if (!gate.down) {
      log.warn(
        { err: error, id: n.id, audienceId: n.routing.audienceId },
        "store did not take a persisted notification; holding persisted notifications until a probe finds it up",
      );
    }
    probeWith = n;
    gate.markDown();
    return saveWhenUp(n, bytes);
  };

  /** One save in the next batch. "expired" counts as saved: delivered live and not stored (docs/contract.md §6). */
  const attempt = (n: Notification, bytes: number): Promise<Saved> =>
    batcher.save(n, bytes).then(
      () => SAVED,
      (error: unknown) => failed(n, bytes, error),
    );

  /** Waits for the gate to open, then saves again; `stopped` when the gate was closed instead. */
  const saveWhenUp = async (n: Notification, bytes: number): Promise<Saved> => ((await gate.whenUp()) ? attempt(n, bytes) : STOPPED);

  return {
    held,
    // The usual case (the store is up) takes no async frame of its own.
    save: (n, bytes) => (gate.down ? saveWhenUp(n, bytes) : attempt(n, bytes)),
    close() {
      gate.close();
    },
  };
}

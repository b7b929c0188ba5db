import type { NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";

const SWEEP_INTERVAL_MS = 30_000;
const SWEEP_BATCH = 1000;

export interface SweeperOptions {
  /** Pause between the end of one pass and the start of the next, in milliseconds. */
  intervalMs: number;
  /** Rows deleted per `expire` call; each call is one short statement. */
  batch: number;
  /** What "expired" is measured against. Default: the system clock. */
  clock?: () => Date;
  /** Called with a failed pass's error; the sweeper carries on at the next interval. */
  onError?: (err: unknown) => void;
}

export interface Sweeper {
  /** Stops scheduling passes, lets the running pass finish its current batch, and resolves after it. Idempotent. */
  stop(): Promise<void>;
}

/**
 * Deletes expired notifications in the background: a first pass at once, then one pass
 * `intervalMs` after the previous one ended, so passes never overlap. A pass calls
 * `store.expire(now, batch)` until a call deletes fewer than `batch` rows. The timer does not keep
 * the process alive.
 */
export function startSweeper(store: NotificationStore, opts: SweeperOptions): Sweeper {
  const clock = opts.clock ?? (() => new Date());
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> | null = null;

  const pass = async (): Promise<void> => {
    try {
      while (!stopped) {
        const deleted = await store.expire(clock(), opts.batch);
        if (deleted < opts.batch) break;
      }
    } catch (err) {
      opts.onError?.(err);
    }
  };

  const schedule = (delayMs: number): void => {
    timer = setTimeout(() => {
      timer = null;
      running = pass().finally(() => {
        running = null;
        if (!stopped) schedule(opts.intervalMs);
      });
    }, delayMs);
    timer.unref();
  };

  schedule(0);
  return {
    async stop() {
      stopped = true;
      if (timer !== null) clearTimeout(timer);
      timer = null;
      await running;
    },
  };
}

/** The sweeper the store role runs: batches of 1000 every 30 s; a failed pass is logged and retried at the next interval. */
export function startExpirySweeper(store: NotificationStore, log: Logger): Sweeper {
  return startSweeper(store, {
    intervalMs: SWEEP_INTERVAL_MS,
    batch: SWEEP_BATCH,
    onError: (err) => log.warn({ err }, "expiry sweep failed; retrying at the next interval"),
  });
}

import type { NotificationStore } from "@tidings/contracts";

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

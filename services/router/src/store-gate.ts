export interface StoreGateOptions {
  /** A cheap request that resolves when the store can take saves again. */
  probe: () => Promise<void>;
  /** First pause between probes while the store is down, in ms. */
  probeMinMs: number;
  /** Longest pause between probes; the pause doubles per failed probe up to this. */
  probeMaxMs: number;
  /** Called when the store is marked down and when a probe finds it up again. */
  onChange?: (up: boolean) => void;
}

/**
 * Whether the store is taking saves. A transient save failure closes the gate; while it is closed
 * nothing else is sent to the store except one probe at a time, spaced `probeMinMs` doubling up to
 * `probeMaxMs`, so a store that is down is not hammered and one that is back is noticed within
 * `probeMaxMs` plus one probe. Every waiter is released at once when a probe succeeds.
 */
export class StoreGate {
  readonly #opts: StoreGateOptions;
  #down: { released: Promise<boolean>; release: (up: boolean) => void } | null = null;
  #closed = false;
  #timer: NodeJS.Timeout | null = null;

  constructor(opts: StoreGateOptions) {
    this.#opts = opts;
  }

  get down(): boolean {
    return this.#down !== null;
  }

  /** Marks the store down and starts probing (once, however many callers report the failure). */
  markDown(): void {
    if (this.#down !== null || this.#closed) return;
    let release!: (up: boolean) => void;
    const released = new Promise<boolean>((r) => (release = r));
    this.#down = { released, release };
    this.#opts.onChange?.(false);
    this.#schedule(this.#opts.probeMinMs);
  }

  /** Resolves true once the store is up (at once when it is), false when the gate was closed. */
  whenUp(): Promise<boolean> {
    if (this.#closed) return Promise.resolve(false);
    return this.#down?.released ?? Promise.resolve(true);
  }

  /** Stops probing and releases every waiter with false. Idempotent. */
  close(): void {
    this.#closed = true;
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const down = this.#down;
    this.#down = null;
    down?.release(false);
  }

  #schedule(delayMs: number): void {
    this.#timer = setTimeout(() => {
      this.#timer = null;
      void this.#probe(delayMs);
    }, delayMs);
  }

  async #probe(lastDelayMs: number): Promise<void> {
    let up: boolean;
    try {
      await this.#opts.probe();
      up = true;
    } catch {
      up = false;
    }
    if (this.#closed || this.#down === null) return;
    if (!up) {
      this.#schedule(Math.min(this.#opts.probeMaxMs, lastDelayMs * 2));
      return;
    }
    const down = this.#down;
    this.#down = null;
    this.#opts.onChange?.(true);
    down.release(true);
  }
}

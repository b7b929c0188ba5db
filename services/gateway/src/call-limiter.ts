/** Per-connection hub call limits (TIDINGS_HUB_CALL_RATE, _BURST, TIDINGS_MAX_QUEUED_CALLS, TIDINGS_HUB_CALL_FLOOD_*). */
export interface CallLimits {
  /** token bucket refill, calls per second */
  ratePerSecond: number;
  /** token bucket size */
  burst: number;
  /** accepted but not yet completed calls */
  maxQueued: number;
  /** Throttled calls within `floodWindowMs` beyond which the connection is closed; 0: never */
  floodLimit: number;
  floodWindowMs: number;
}

/** Why a call was refused with `Throttled`: the metric label. */
export type ThrottleReason = "rate" | "queue";

export const THROTTLE_REASONS: readonly ThrottleReason[] = ["rate", "queue"];

/**
 * A token bucket plus a queue count and a flood count for one connection. No timers: the bucket
 * refills lazily from the monotonic clock the caller passes (performance.now(), milliseconds), so an
 * idle connection costs nothing and a wall-clock jump neither empties nor fills it.
 */
export class CallLimiter {
  #tokens: number;
  #refilledAt: number;
  #queued = 0;
  #floodWindowStart = -Infinity;
  #floodCount = 0;

  constructor(
    private readonly limits: CallLimits,
    now: number,
  ) {
    this.#tokens = limits.burst;
    this.#refilledAt = now;
  }

  /** Calls accepted and not yet completed. */
  get queued(): number {
    return this.#queued;
  }

  /**
   * Admits one call, or says why not. A refused call takes no token and no queue slot. The queue is
   * checked first so a client waiting on slow calls does not also drain its bucket.
   */
  admit(now: number): ThrottleReason | null {
    const limits = this.limits;
    if (this.#queued >= limits.maxQueued) return "queue";
    const tokens = Math.min(limits.burst, this.#tokens + ((now - this.#refilledAt) * limits.ratePerSecond) / 1000);
    this.#refilledAt = now;
    if (tokens < 1) {
      this.#tokens = tokens;
      return "rate";
    }
    this.#tokens = tokens - 1;
    this.#queued++;
    return null;
  }

  /** An admitted call completed (whatever its outcome). */
  completed(): void {
    this.#queued--;
  }

  /** Records one refusal; true when the connection now floods (more than `floodLimit` refusals in one window). */
  refused(now: number): boolean {
    const limits = this.limits;
    if (limits.floodLimit === 0) return false;
    if (now - this.#floodWindowStart >= limits.floodWindowMs) {
      this.#floodWindowStart = now;
      this.#floodCount = 0;
    }
    return ++this.#floodCount > limits.floodLimit;
  }
}

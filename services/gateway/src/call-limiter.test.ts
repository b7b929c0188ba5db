import { describe, expect, it } from "vitest";
import { CallLimiter, type CallLimits } from "./call-limiter.js";

const LIMITS: CallLimits = { ratePerSecond: 10, burst: 5, maxQueued: 100, floodLimit: 3, floodWindowMs: 1000 };

/** Admits and completes `n` calls at `now`; returns how many were admitted. */
function burst(limiter: CallLimiter, n: number, now: number): number {
  let admitted = 0;
  for (let i = 0; i < n; i++) {
    if (limiter.admit(now) === null) {
      admitted++;
      limiter.completed();
    }
  }
  return admitted;
}

describe("CallLimiter", () => {
  it("admits the burst at once, then refills at the rate, never above the burst", () => {
    const limiter = new CallLimiter(LIMITS, 0);
    expect(burst(limiter, 50, 0)).toBe(5);
    expect(limiter.admit(0)).toBe("rate");
    expect(burst(limiter, 50, 100)).toBe(1); // 100 ms at 10/s
    expect(burst(limiter, 50, 350)).toBe(2); // 250 ms more: 2.5 tokens, the half is kept
    expect(burst(limiter, 50, 400)).toBe(1);
    expect(burst(limiter, 50, 60_000)).toBe(5); // an idle minute refills only up to the burst
  });

  it("a refused call takes no token", () => {
    const limiter = new CallLimiter(LIMITS, 0);
    expect(burst(limiter, 5, 0)).toBe(5);
    for (let i = 0; i < 1000; i++) expect(limiter.admit(50)).toBe("rate");
    expect(burst(limiter, 50, 100)).toBe(1);
  });

  it("refuses with queue while maxQueued calls are not completed, without using tokens", () => {
    const limiter = new CallLimiter({ ...LIMITS, maxQueued: 2 }, 0);
    expect(limiter.admit(0)).toBeNull();
    expect(limiter.admit(0)).toBeNull();
    expect(limiter.queued).toBe(2);
    expect(limiter.admit(0)).toBe("queue");
    limiter.completed();
    expect(limiter.admit(0)).toBeNull();
    limiter.completed();
    limiter.completed();
    expect(burst(limiter, 50, 0)).toBe(2); // 5 tokens − 3 admitted
  });

  it("reports a flood after more than floodLimit refusals within one window; the count restarts with the next window", () => {
    const limiter = new CallLimiter(LIMITS, 0);
    expect([limiter.refused(0), limiter.refused(10), limiter.refused(20)]).toEqual([false, false, false]);
    expect(limiter.refused(999)).toBe(true);
    const later = new CallLimiter(LIMITS, 0);
    expect([later.refused(0), later.refused(10), later.refused(20)]).toEqual([false, false, false]);
    expect([later.refused(1000), later.refused(1001), later.refused(1002), later.refused(1003)]).toEqual([false, false, false, true]);
  });

  it("floodLimit 0 never reports a flood", () => {
    const limiter = new CallLimiter({ ...LIMITS, floodLimit: 0 }, 0);
    for (let i = 0; i < 10_000; i++) expect(limiter.refused(i)).toBe(false);
  });
});

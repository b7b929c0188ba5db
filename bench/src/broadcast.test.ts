import { describe, expect, it } from "vitest";
import { broadcastSample, bytesPerConnection, summarizeBroadcasts, type BroadcastSample } from "./broadcast.js";
import type { Tally } from "./client/main.js";

const tally = (t: Partial<Tally>): Tally => ({ open: 0, notifications: 0, short: 0, extra: 0, firstAt: 0, lastAt: 0, ...t });

function sample(completionMs: number | null, expected = 1000): BroadcastSample {
  return { expected, received: expected, misses: 0, duplicates: 0, ackMs: 2, firstMs: completionMs === null ? null : 1, completionMs };
}

describe("broadcast aggregation", () => {
  it("completion is the last receipt in any client process, measured from the POST", () => {
    const s = broadcastSample(10_000, 10_004, 300, [
      tally({ open: 100, notifications: 100, firstAt: 10_006, lastAt: 10_050 }),
      tally({ open: 200, notifications: 200, firstAt: 10_005, lastAt: 10_120 }),
    ]);
    expect(s).toEqual({ expected: 300, received: 300, misses: 0, duplicates: 0, ackMs: 4, firstMs: 5, completionMs: 120 });
  });

  it("counts short sockets and sockets that closed since the post as misses, extra receipts as duplicates", () => {
    const s = broadcastSample(0, 1, 300, [
      tally({ open: 99, notifications: 97, short: 3, extra: 1, firstAt: 5, lastAt: 9 }),
      tally({ open: 200, notifications: 200, firstAt: 5, lastAt: 8 }),
    ]);
    expect(s.misses).toBe(3 + 1);
    expect(s.duplicates).toBe(1);
  });

  it("a broadcast where nothing arrived has no times", () => {
    const s = broadcastSample(0, 3, 10, [tally({ open: 10, short: 10 })]);
    expect(s.completionMs).toBeNull();
    expect(s.firstMs).toBeNull();
    expect(s.misses).toBe(10);
  });

  it("summary: p50 and max over the broadcasts, deliveries/s of the median one, misses summed", () => {
    const missed = { ...sample(null), misses: 1000, received: 0 };
    const sum = summarizeBroadcasts([sample(100), sample(300), sample(200), missed]);
    expect(sum.broadcasts).toBe(4);
    expect(sum.completionMs).toEqual({ p50: 200, max: 300, min: 100 });
    expect(sum.deliveriesPerS).toBe(5000);
    expect(sum.misses).toBe(1000);
  });

  it("bytes per connection from summed RSS growth", () => {
    expect(bytesPerConnection([100, 200], [1100, 2200], 1000)).toBe(3);
    expect(() => bytesPerConnection([1], [1, 2], 10)).toThrow();
    expect(Number.isNaN(bytesPerConnection([1], [2], 0))).toBe(true);
  });
});

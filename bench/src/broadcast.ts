/**
 * Pure aggregation for the many-connection harness: one broadcast timed across client processes
 * (each reports its own receipt times on the shared wall clock), and per-connection memory.
 */
import type { Tally } from "./client/main.js";
import { median, percentile, significant } from "./stats.js";

export interface BroadcastSample {
  /** open connections when the notification was posted: each should receive it once */
  expected: number;
  received: number;
  /** open connections that did not receive it, and ones that received it more than once */
  misses: number;
  duplicates: number;
  /** from the POST being sent to its 202, to the first and to the last receipt (ms) */
  ackMs: number;
  firstMs: number | null;
  completionMs: number | null;
}

/**
 * Merges the tallies of every client process for one broadcast posted at `postAt` (wall clock, ms)
 * and answered at `ackAt`. Completion is the last receipt in any process; null when nothing arrived.
 */
export function broadcastSample(postAt: number, ackAt: number, expected: number, tallies: readonly Tally[]): BroadcastSample {
  const firsts = tallies.filter((t) => t.firstAt > 0).map((t) => t.firstAt);
  const lasts = tallies.filter((t) => t.lastAt > 0).map((t) => t.lastAt);
  return {
    expected,
    received: tallies.reduce((s, t) => s + t.notifications, 0),
    misses: tallies.reduce((s, t) => s + t.short, 0) + Math.max(0, expected - tallies.reduce((s, t) => s + t.open, 0)),
    duplicates: tallies.reduce((s, t) => s + t.extra, 0),
    ackMs: ackAt - postAt,
    firstMs: firsts.length === 0 ? null : Math.min(...firsts) - postAt,
    completionMs: lasts.length === 0 ? null : Math.max(...lasts) - postAt,
  };
}

export interface BroadcastSummary {
  broadcasts: number;
  completionMs: { p50: number; max: number; min: number };
  firstMs: { p50: number };
  ackMs: { p50: number };
  /** deliveries per second of the median broadcast: its receivers / its completion time */
  deliveriesPerS: number;
  misses: number;
  duplicates: number;
}

/** p50 / max over the broadcasts; a broadcast where nothing arrived counts as a miss of all, not as a time. */
export function summarizeBroadcasts(samples: readonly BroadcastSample[]): BroadcastSummary {
  const done = samples.filter((s) => s.completionMs !== null);
  const completion = done.map((s) => s.completionMs!);
  const p50 = percentile(completion, 50);
  const receivers = median(done.map((s) => s.expected));
  return {
    broadcasts: samples.length,
    completionMs: { p50: significant(p50, 3), max: significant(Math.max(...completion), 3), min: significant(Math.min(...completion), 3) },
    firstMs: { p50: significant(median(done.map((s) => s.firstMs!)), 3) },
    ackMs: { p50: significant(median(samples.map((s) => s.ackMs)), 3) },
    deliveriesPerS: p50 > 0 ? Math.round(receivers / (p50 / 1000)) : Number.NaN,
    misses: samples.reduce((s, x) => s + x.misses, 0),
    duplicates: samples.reduce((s, x) => s + x.duplicates, 0),
  };
}

/** Memory grown per connection: summed RSS growth of the processes divided by the connections they took on. */
export function bytesPerConnection(before: readonly number[], after: readonly number[], connections: number): number {
  if (before.length !== after.length) throw new Error("before and after must list the same processes");
  if (connections <= 0) return Number.NaN;
  const grown = after.reduce((s, x, i) => s + x - before[i]!, 0);
  return Math.round(grown / connections);
}

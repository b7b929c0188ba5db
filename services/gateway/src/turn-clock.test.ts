import { describe, expect, it } from "vitest";
import { turnClock } from "./turn-clock.js";

function busyFor(ms: number): void {
  const until = Date.now() + ms;
  while (Date.now() < until);
}

describe("turnClock: Date.now() once per run of synchronous work", () => {
  it("answers one reading within a run, however long, and reads the clock again after the microtasks ran", async () => {
    const clock = turnClock();
    const first = clock();
    busyFor(5);
    expect(clock()).toBe(first);
    await Promise.resolve();
    await Promise.resolve();
    const later = clock();
    expect(later).toBeGreaterThanOrEqual(first + 5);
    expect(later).toBeLessThanOrEqual(Date.now());
  });
});

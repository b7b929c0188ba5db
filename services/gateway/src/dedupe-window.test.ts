import { describe, expect, it } from "vitest";
import { DedupeWindow } from "./dedupe-window.js";

/** Two different ids with the same hash under `seed` (a birthday search over numbered ids). */
function collidingIds(window: DedupeWindow): [string, string] {
  const byHash = new Map<number, string>();
  for (let i = 0; ; i++) {
    const id = `n-${i}`;
    const other = byHash.get(window.hash(id));
    if (other !== undefined) return [other, id];
    byHash.set(window.hash(id), id);
  }
}

describe("DedupeWindow: (id, audience) pairs of the de-duplication window, exact", () => {
  it("drops a duplicate id and delivers a different id whose hash collides with it", () => {
    const window = new DedupeWindow(1000, 12345);
    const [a, b] = collidingIds(window);
    expect(a).not.toBe(b);
    expect(window.hash(a)).toBe(window.hash(b));
    expect(window.seen(a, "user:u1", 0)).toBe(false);
    expect(window.seen(a, "user:u1", 1)).toBe(true);
    expect(window.seen(b, "user:u1", 2)).toBe(false);
    expect(window.seen(b, "user:u1", 3)).toBe(true);
    // the same id to another audience is another delivery
    expect(window.seen(a, "group:g", 4)).toBe(false);
    expect(window.has(a, "group:g")).toBe(true);
    expect(window.has(b, "group:g")).toBe(false);
  });

  it("forgets a pair once its window has passed, and only then", () => {
    const window = new DedupeWindow(1000);
    expect(window.seen("n-1", "user:u1", 0)).toBe(false);
    expect(window.seen("n-2", "user:u1", 500)).toBe(false);
    expect(window.seen("n-1", "user:u1", 999)).toBe(true);
    expect(window.seen("n-1", "user:u1", 1000)).toBe(false);
    expect(window.seen("n-2", "user:u1", 1499)).toBe(true);
    expect(window.seen("n-2", "user:u1", 1500)).toBe(false);
  });

  it("answers as a reference model through growth, expiry and shrinking, one id in several audiences", () => {
    const window = new DedupeWindow(5000, 1);
    const model = new Map<string, number>();
    let seed = 42;
    const random = (n: number) => {
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      return seed % n;
    };
    let now = 0;
    for (let step = 0; step < 60_000; step++) {
      // bursts grow the ring past its first sizes; quiet stretches expire most of it and shrink it
      now += step % 20_000 < 10_000 ? random(2) : 20;
      const id = `n-${random(3000)}`;
      const audience = `user:u${random(3)}`;
      const key = `${audience}\n${id}`;
      const expires = model.get(key);
      const duplicate = expires !== undefined && expires > now;
      expect(window.seen(id, audience, now)).toBe(duplicate);
      if (!duplicate) model.set(key, now + 5000);
    }
    let live = 0;
    for (const expires of model.values()) if (expires > now) live++;
    expect(window.size).toBe(live);
  });
});

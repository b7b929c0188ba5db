import { describe, expect, it } from "vitest";
import { DedupeWindow } from "./dedupe-window.js";

/** `id` as a framed node message's header carries it: one byte per character (ASCII) or UTF-16LE, after `pad` other bytes. */
function header(id: string, wide: boolean, pad = 3): Uint8Array {
  const bytes = new Uint8Array(pad + (wide ? 2 : 1) * id.length + 2).fill(0x7a);
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (wide) {
      bytes[pad + 2 * i] = c & 0xff;
      bytes[pad + 2 * i + 1] = c >>> 8;
    } else bytes[pad + i] = c;
  }
  return bytes;
}

/** `window.seenBytes` of `id` written into a header. */
function seenBytes(window: DedupeWindow, id: string, wide: boolean, audience: string, now: number): boolean {
  const bytes = header(id, wide);
  return window.seenBytes(bytes, 3, 3 + (wide ? 2 : 1) * id.length, wide, audience, now);
}

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

  it("from header bytes: drops a duplicate id and delivers a different id whose hash collides with it, in ASCII and UTF-16LE headers", () => {
    const window = new DedupeWindow(1000, 12345);
    const [a, b] = collidingIds(window);
    for (const wide of [false, true]) {
      const audience = `user:${String(wide)}`;
      expect(seenBytes(window, a, wide, audience, 0)).toBe(false);
      expect(seenBytes(window, a, wide, audience, 1)).toBe(true);
      expect(seenBytes(window, b, wide, audience, 2)).toBe(false);
      expect(seenBytes(window, b, wide, audience, 3)).toBe(true);
      expect(window.has(a, audience)).toBe(true);
    }
    // neighbouring bytes are not part of the id: a prefix of a recorded id is another id
    expect(seenBytes(window, a.slice(0, -1), false, "user:false", 4)).toBe(false);
  });

  it("an id is the same id as a string, as ASCII header bytes and as UTF-16LE header bytes; ids beyond Latin-1 too", () => {
    const window = new DedupeWindow(1000);
    expect(window.seen("n-1", "user:u", 0)).toBe(false);
    expect(seenBytes(window, "n-1", false, "user:u", 1)).toBe(true);
    expect(seenBytes(window, "n-1", true, "user:u", 2)).toBe(true);
    // units 0x80-0xff: stored one byte each, whichever way they came
    expect(seenBytes(window, "é-2", true, "user:u", 3)).toBe(false);
    expect(window.seen("é-2", "user:u", 4)).toBe(true);
    // units from 0x100: two bytes each; a lone surrogate is a code unit like any other
    for (const id of ["日本-3", "\ud800-4"]) {
      expect(window.seen(id, "user:u", 5)).toBe(false);
      expect(seenBytes(window, id, true, "user:u", 6)).toBe(true);
    }
    expect(window.has("日本-3", "user:u")).toBe(true);
    expect(window.has("日本-3", "user:v")).toBe(false);
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
    checkAgainstModel(
      (window, id, audience, now) => window.seen(id, audience, now),
      () => `n-${random(3000)}`,
    );
  });

  it("answers as a reference model when shards renumber their entries (32-bit sequence numbers) between resizes", () => {
    checkAgainstModel(
      (window, id, audience, now) => window.seen(id, audience, now),
      () => `n-${random(3000)}`,
      // a shard renumbers before its 100th sequence number: hundreds of times in this run
      100,
    );
  });

  it("answers as a reference model with ids from header bytes and strings mixed, of every width and of lengths that make the arena grow and wrap", () => {
    const alphabets = ["abcdefghij", "áéíóúñüß", "日本語中文한국어", "a\ud800é"];
    checkAgainstModel(
      (window, id, audience, now) => {
        const form = random(3);
        if (form === 0) return window.seen(id, audience, now);
        const wide = form === 2 || [...id].some((c) => c.charCodeAt(0) > 0x7f);
        return seenBytes(window, id, wide, audience, now);
      },
      () => {
        const alphabet = alphabets[random(alphabets.length)]!;
        const n = random(4) === 0 ? 100 + random(300) : 1 + random(12);
        let id = "";
        for (let i = 0; i < n; i++) id += alphabet[random(3) === 0 ? random(alphabet.length) : 0];
        return id + random(200);
      },
    );
  });
});

let seed = 42;
/** A deterministic pseudo-random integer below `n`. */
function random(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return seed % n;
}

/** Drives a window through bursts (growth) and quiet stretches (expiry, shrinking), checking every answer against a map. */
function checkAgainstModel(
  seen: (window: DedupeWindow, id: string, audience: string, now: number) => boolean,
  nextId: () => string,
  maxSeq?: number,
): void {
  seed = 42;
  const window = new DedupeWindow(5000, 1, maxSeq);
  const model = new Map<string, number>();
  let now = 0;
  for (let step = 0; step < 60_000; step++) {
    now += step % 20_000 < 10_000 ? random(2) : 20;
    const id = nextId();
    const audience = `user:u${random(3)}`;
    const key = `${audience}\n${id}`;
    const expires = model.get(key);
    const duplicate = expires !== undefined && expires > now;
    expect(seen(window, id, audience, now)).toBe(duplicate);
    if (!duplicate) model.set(key, now + 5000);
  }
  let live = 0;
  for (const expires of model.values()) if (expires > now) live++;
  expect(window.size).toBe(live);
}

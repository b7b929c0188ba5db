import { describe, expect, it } from "vitest";
import type { NotificationStore } from "@tidings/contracts";
import { startSweeper } from "./sweeper.js";

/** A store whose `expire` answers from a script and records its calls; the rest is unused. */
function scriptedStore(answers: (call: number) => number | Promise<number>): {
  store: NotificationStore;
  calls: { now: Date; batch: number }[];
} {
  const calls: { now: Date; batch: number }[] = [];
  const unused = () => Promise.reject(new Error("not used by the sweeper"));
  const store: NotificationStore = {
    save: unused,
    saveMany: unused,
    replay: unused,
    setState: unused,
    listForUser: unused,
    expire: async (now, batch) => {
      calls.push({ now, batch });
      return answers(calls.length);
    },
  };
  return { store, calls };
}

const waitUntil = async (check: () => boolean) => {
  for (let i = 0; i < 500 && !check(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(check()).toBe(true);
};

describe("startSweeper", () => {
  it("runs a pass at once and repeats expire while batches come back full", async () => {
    const now = new Date("2030-01-01T00:00:00.000Z");
    const { store, calls } = scriptedStore((call) => [3, 3, 2][call - 1] ?? 0);
    const sweeper = startSweeper(store, { intervalMs: 60_000, batch: 3, clock: () => now });
    await waitUntil(() => calls.length >= 3);
    await new Promise((r) => setTimeout(r, 50));
    await sweeper.stop();
    expect(calls).toEqual([
      { now, batch: 3 },
      { now, batch: 3 },
      { now, batch: 3 },
    ]);
  });

  it("runs the next pass an interval after the previous one ended", async () => {
    const { store, calls } = scriptedStore(() => 0);
    const sweeper = startSweeper(store, { intervalMs: 30, batch: 10 });
    await waitUntil(() => calls.length >= 3);
    await sweeper.stop();
    const gaps = calls.slice(1).map((c, i) => c.now.getTime() - calls[i]!.now.getTime());
    for (const gap of gaps) expect(gap).toBeGreaterThanOrEqual(25);
  });

  it("keeps going after a failed pass and reports the error", async () => {
    const errors: unknown[] = [];
    const { store, calls } = scriptedStore((call) => (call === 1 ? Promise.reject(new Error("db down")) : 0));
    const sweeper = startSweeper(store, { intervalMs: 10, batch: 10, onError: (err) => errors.push(err) });
    await waitUntil(() => calls.length >= 2);
    await sweeper.stop();
    expect(errors).toEqual([new Error("db down")]);
  });

  it("stop waits for the running batch, then runs no more", async () => {
    let finish!: (n: number) => void;
    const { store, calls } = scriptedStore(() => new Promise<number>((r) => (finish = r)));
    const sweeper = startSweeper(store, { intervalMs: 10, batch: 5 });
    await waitUntil(() => calls.length === 1);
    let stopped = false;
    const stopping = sweeper.stop().then(() => (stopped = true));
    await new Promise((r) => setTimeout(r, 30));
    expect(stopped).toBe(false);
    // A full batch would normally be followed by another call; after stop it is not.
    finish(5);
    await stopping;
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toHaveLength(1);
    await sweeper.stop();
  });
});

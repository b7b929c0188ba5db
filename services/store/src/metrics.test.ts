import { describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import type { NotificationStore, StateChangeResult } from "@tidings/contracts";
import { createStoreMetrics, instrumentStore, metricNames } from "./metrics.js";

const now = new Date("2030-01-01T00:00:00.000Z");
const changed = (c: boolean): StateChangeResult => ({ found: true, changed: c, changedAt: now.toISOString() });

function fakeStore(): NotificationStore {
  let saves = 0;
  return {
    save: async () => (["stored", "duplicate", "expired", "stored"] as const)[saves++ % 4]!,
    replay: async (q) => Array.from({ length: q.limit }, () => ({}) as never),
    setState: async (q) => changed(q.userId !== "same"),
    listForUser: async () => Promise.reject(new Error("db down")),
    saveMany: async (ns) => ns.map((_, i) => (i === 1 ? { ok: false, error: "refused" } : { ok: true, result: "stored" })),
    expire: async (_now, batch) => batch - 1,
  };
}

/** Histogram samples carry the series name (`_sum`, `_count`, `_bucket`); prom-client's types leave it out. */
const metricName = (v: object): string | undefined => (v as { metricName?: string }).metricName;

async function values(registry: Registry, name: string): Promise<[string, number][]> {
  const metric = await registry.getSingleMetric(name)!.get();
  return metric.values.map((v) => [Object.values(v.labels).join(","), v.value]);
}

describe("store metrics", () => {
  it("names every metric it registers", async () => {
    const registry = new Registry();
    createStoreMetrics(registry);
    const registered = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(metricNames().sort()).toEqual(registered);
    expect(metricNames()).toEqual(
      expect.arrayContaining([
        "tidings_store_query_duration_seconds",
        "tidings_store_saves_total",
        "tidings_store_replay_notifications",
        "tidings_store_swept_total",
        "tidings_store_state_changes_total",
      ]),
    );
  });

  it("exports every known label value of its counters at 0 before the first event", async () => {
    const registry = new Registry();
    createStoreMetrics(registry);
    expect(await values(registry, "tidings_store_saves_total")).toEqual([
      ["stored", 0],
      ["duplicate", 0],
      ["expired", 0],
    ]);
    expect((await values(registry, "tidings_store_errors_total")).map(([op]) => op)).toEqual([
      "save",
      "saveMany",
      "replay",
      "setState",
      "list",
      "expire",
    ]);
    expect(await values(registry, "tidings_store_state_changes_total")).toEqual([
      ["read", 0],
      ["unread", 0],
      ["deleted", 0],
    ]);
  });

  it("counts results, sizes, changes, sweeps and failures while passing results through", async () => {
    const registry = new Registry();
    const store = instrumentStore(fakeStore(), createStoreMetrics(registry));
    const n = {} as never;
    expect([await store.save(n), await store.save(n), await store.save(n), await store.save(n)]).toEqual([
      "stored",
      "duplicate",
      "expired",
      "stored",
    ]);
    expect(await values(registry, "tidings_store_saves_total")).toEqual([
      ["stored", 2],
      ["duplicate", 1],
      ["expired", 1],
    ]);
    expect(await store.saveMany([n, n, n])).toEqual([
      { ok: true, result: "stored" },
      { ok: false, error: "refused" },
      { ok: true, result: "stored" },
    ]);
    expect((await values(registry, "tidings_store_saves_total"))[0]).toEqual(["stored", 4]);

    expect(await store.replay({ userId: null, audiences: [], limit: 7, now })).toHaveLength(7);
    const size = await registry.getSingleMetric("tidings_store_replay_notifications")!.get();
    expect(size.values.find((v) => metricName(v) === "tidings_store_replay_notifications_sum")?.value).toBe(7);

    const base = { audienceId: "global", notificationId: "n", now };
    await store.setState({ ...base, userId: "u", read: true });
    await store.setState({ ...base, userId: "u", read: false });
    await store.setState({ ...base, userId: "u", deleted: true });
    await store.setState({ ...base, userId: "same", read: true });
    expect(await values(registry, "tidings_store_state_changes_total")).toEqual([
      ["read", 1],
      ["unread", 1],
      ["deleted", 1],
    ]);

    expect(await store.expire(now, 10)).toBe(9);
    expect(await values(registry, "tidings_store_swept_total")).toEqual([["", 9]]);

    await expect(store.listForUser({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: null, now })).rejects.toThrow(
      "db down",
    );
    expect(await values(registry, "tidings_store_errors_total")).toEqual([
      ["save", 0],
      ["saveMany", 1],
      ["replay", 0],
      ["setState", 0],
      ["list", 1],
      ["expire", 0],
    ]);

    const duration = await registry.getSingleMetric("tidings_store_query_duration_seconds")!.get();
    const counts = duration.values
      .filter((v) => metricName(v) === "tidings_store_query_duration_seconds_count")
      .map((v) => [v.labels["op"], v.value]);
    expect(counts).toEqual([
      ["save", 4],
      ["saveMany", 1],
      ["replay", 1],
      ["setState", 4],
      ["expire", 1],
      ["list", 1],
    ]);
  });
});

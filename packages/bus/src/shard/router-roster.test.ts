import { afterEach, describe, expect, it } from "vitest";
import { MemoryBus } from "../memory-bus.js";
import { RouterRoster } from "./router-roster.js";

const tick = () => new Promise((r) => setTimeout(r, 10));
const stops: RouterRoster[] = [];
afterEach(async () => {
  for (const r of stops.splice(0)) await r.stop();
});

function roster(bus: MemoryBus, id: string | null, clock: { now: number }, onChange?: () => void): RouterRoster {
  const r = new RouterRoster({
    bus,
    partitions: 32,
    heartbeatIntervalMs: 60_000,
    now: () => clock.now,
    ...(id === null ? {} : { self: { routerId: id } }),
    ...(onChange === undefined ? {} : { onChange }),
  });
  stops.push(r);
  return r;
}

describe("router roster", () => {
  it("gives routers and a watcher that started later the same map, over ready routers only", async () => {
    const bus = new MemoryBus();
    const clock = { now: 0 };
    const a = roster(bus, "router-a", clock);
    const b = roster(bus, "router-b", clock);
    await a.start();
    await b.start();
    a.setState(true, []);
    await tick();
    expect(b.map().routers).toEqual(["router-a"]);
    expect(b.map("router-b").routers).toEqual(["router-a", "router-b"]);
    b.setState(true, [1, 2]);
    const watcher = roster(bus, null, clock);
    await watcher.start();
    await tick();
    // The watcher's probe made both answer at once.
    expect(watcher.map().routers).toEqual(["router-a", "router-b"]);
    expect(watcher.map().movedTo(a.map())).toEqual([]);
    expect(watcher.servedElsewhere(2)).toEqual(["router-b"]);
    expect(b.servedElsewhere(2)).toEqual([]);
  });

  it("drops a router that leaves at once and one that stops heartbeating after the missed heartbeats, telling onChange", async () => {
    const bus = new MemoryBus();
    const clock = { now: 0 };
    let changes = 0;
    const a = roster(bus, "router-a", clock, () => changes++);
    const b = roster(bus, "router-b", clock);
    const c = roster(bus, "router-c", clock);
    for (const r of [a, b, c]) await r.start();
    b.setState(true, [0]);
    c.setState(true, [1]);
    await tick();
    expect([...a.routers().keys()].sort()).toEqual(["router-a", "router-b", "router-c"]);
    const before = changes;
    await b.stop();
    await tick();
    expect(a.routers().has("router-b")).toBe(false);
    expect(changes).toBeGreaterThan(before);
    // router-c goes silent: after three intervals without a heartbeat it is dead.
    clock.now = 3 * 60_000 - 1;
    expect(a.sweep()).toEqual([]);
    clock.now = 3 * 60_000 + 1;
    expect(a.sweep()).toEqual(["router-c"]);
    expect(a.map().routers).toEqual([]);
  });

  it("ignores a router announcing another partition count", async () => {
    const bus = new MemoryBus();
    const clock = { now: 0 };
    const a = roster(bus, "router-a", clock);
    await a.start();
    const other = new RouterRoster({ bus, partitions: 16, self: { routerId: "router-x" }, heartbeatIntervalMs: 60_000 });
    stops.push(other);
    await other.start();
    other.setState(true, []);
    await tick();
    expect(a.routers().has("router-x")).toBe(false);
  });
});

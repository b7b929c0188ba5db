import { describe, expect, it } from "vitest";
import { ShardMap, hash32, partitionOf, rendezvousOwner } from "./shard-map.js";

const routers = (n: number) => Array.from({ length: n }, (_, i) => `router-${i}`);

describe("shard map", () => {
  it("hashes a key to the same partition every time (pinned values: the hash must never change)", () => {
    expect(hash32("user:alice")).toBe(hash32("user:alice"));
    expect([hash32(""), hash32("user:alice"), hash32("tenant:t1")]).toEqual([2872998923, 1615627526, 2805242284]);
    expect(partitionOf("user:alice", 1)).toBe(0);
    for (let i = 0; i < 1000; i++) {
      const p = partitionOf(`user:u${i}`, 64);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(64);
    }
  });

  it("spreads 100k keys over 64 partitions within 10% of the mean", () => {
    const counts = new Array<number>(64).fill(0);
    for (let i = 0; i < 100_000; i++) counts[partitionOf(`user:${i}`, 64)]!++;
    const mean = 100_000 / 64;
    for (const c of counts) expect(Math.abs(c - mean) / mean).toBeLessThan(0.1);
  });

  it("computes the same map whatever order the routers are listed in", () => {
    const a = new ShardMap(256, ["r-b", "r-a", "r-c"]);
    const b = new ShardMap(256, ["r-c", "r-b", "r-a", "r-a"]);
    expect(a.movedTo(b)).toEqual([]);
    for (let p = 0; p < 256; p++) expect(a.owner(p)).toBe(rendezvousOwner(p, ["r-a", "r-b", "r-c"]));
  });

  it("gives every partition an owner and spreads 1024 partitions over 8 routers within 30% of the mean", () => {
    const map = new ShardMap(1024, routers(8));
    let total = 0;
    for (const r of routers(8)) {
      const n = map.ownedBy(r).length;
      total += n;
      expect(Math.abs(n - 128) / 128).toBeLessThan(0.3);
    }
    expect(total).toBe(1024);
    expect(new ShardMap(4, []).owner(0)).toBeNull();
  });

  it("a joining router takes only the partitions it now owns; every other partition keeps its owner", () => {
    const before = new ShardMap(1024, routers(8));
    const after = new ShardMap(1024, [...routers(8), "router-new"]);
    const moved = before.movedTo(after);
    expect(moved.length).toBeGreaterThan(0);
    expect(moved.length).toBeLessThan((1024 / 9) * 1.5);
    for (const p of moved) expect(after.owner(p)).toBe("router-new");
  });

  it("a leaving router gives away only its own partitions", () => {
    const before = new ShardMap(1024, routers(8));
    const after = new ShardMap(
      1024,
      routers(8).filter((r) => r !== "router-3"),
    );
    const moved = before.movedTo(after);
    expect(moved).toEqual(before.ownedBy("router-3"));
    for (const p of moved) expect(after.owner(p)).not.toBe("router-3");
  });

  it("refuses a partition count below 1", () => {
    expect(() => new ShardMap(0, ["r"])).toThrow(RangeError);
  });
});

import { describe, expect, it } from "vitest";
import { registryDigest } from "../registry/digest.js";
import { partitionOf } from "./shard-map.js";
import { ShardedAudienceRegistry } from "./sharded-audience-registry.js";

const P = 8;
const keys = Array.from({ length: 200 }, (_, i) => `user:u${i}`);
const inPartition = (p: number) => keys.filter((k) => partitionOf(k, P) === p);
const snapshot = (nodeId: string, seq: number, ks: string[]) => ({
  kind: "snapshot" as const,
  nodeId,
  seq,
  keys: ks,
  digest: registryDigest(ks),
});

describe("sharded audience registry", () => {
  it("stores only the keys of owned partitions but checks heartbeats against the node's whole key set", () => {
    const reg = new ShardedAudienceRegistry({ partitions: P, owned: [0, 1] });
    reg.applySnapshot(snapshot("n1", 1, keys));
    expect(reg.size()).toBe(inPartition(0).length + inPartition(1).length);
    for (const k of keys) expect(reg.nodesFor(k).has("n1")).toBe(partitionOf(k, P) <= 1);
    expect(reg.applyHeartbeat({ kind: "heartbeat", nodeId: "n1", seq: 1, digest: registryDigest(keys) }, 0)).toBe("applied");
    const outside = inPartition(5)[0]!;
    const inside = inPartition(0)[0]!;
    expect(reg.applyDelta({ kind: "delta", nodeId: "n1", seq: 2, added: ["user:new"], removed: [outside, inside] })).toBe("applied");
    expect(reg.nodesFor(inside).size).toBe(0);
    const now = [...keys.filter((k) => k !== outside && k !== inside), "user:new"];
    expect(reg.applyHeartbeat({ kind: "heartbeat", nodeId: "n1", seq: 2, digest: registryDigest(now) }, 0)).toBe("applied");
    expect(reg.applyHeartbeat({ kind: "heartbeat", nodeId: "n1", seq: 2, digest: registryDigest(keys) }, 0)).toBe("needs-snapshot");
  });

  it("a gained partition makes every node owe a snapshot until one is applied; a released one is dropped at once", () => {
    const reg = new ShardedAudienceRegistry({ partitions: P, owned: [0] });
    reg.applySnapshot(snapshot("n1", 3, keys));
    reg.applySnapshot(snapshot("n2", 1, inPartition(2)));
    expect(reg.missing()).toEqual([]);
    expect(reg.own([0, 2])).toEqual([2]);
    expect(reg.missing().sort()).toEqual(["n1", "n2"]);
    expect(reg.applyHeartbeat({ kind: "heartbeat", nodeId: "n1", seq: 3, digest: registryDigest(keys) }, 0)).toBe("needs-snapshot");
    reg.applySnapshot(snapshot("n1", 3, keys));
    reg.applySnapshot(snapshot("n2", 1, inPartition(2)));
    expect(reg.missing()).toEqual([]);
    for (const k of inPartition(2)) expect([...reg.nodesFor(k)].sort()).toEqual(["n1", "n2"]);
    reg.own([2]);
    for (const k of inPartition(0)) expect(reg.nodesFor(k).size).toBe(0);
    expect(reg.size()).toBe(inPartition(2).length * 2);
    expect(reg.missing()).toEqual([]);
  });

  it("answers global with every live node whatever it owns", () => {
    const reg = new ShardedAudienceRegistry({ partitions: P });
    reg.applySnapshot(snapshot("n1", 1, keys));
    reg.applySnapshot(snapshot("n2", 1, []));
    expect([...reg.nodesFor("global")].sort()).toEqual(["n1", "n2"]);
    expect(reg.size()).toBe(0);
    reg.dropNode("n1");
    expect([...reg.liveNodes()]).toEqual(["n2"]);
  });
});

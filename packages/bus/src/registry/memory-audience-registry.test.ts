import { describe, expect, it } from "vitest";
import { FRAMED_NODE_MESSAGES, type RegistryDelta, type RegistrySnapshot } from "@tidings/contracts";
import { registryDigest } from "./digest.js";
import { MemoryAudienceRegistry } from "./memory-audience-registry.js";

const snapshot = (nodeId: string, seq: number, keys: string[]): RegistrySnapshot => ({
  kind: "snapshot",
  nodeId,
  seq,
  keys,
  digest: registryDigest(keys),
});
const delta = (nodeId: string, seq: number, added: string[], removed: string[] = []): RegistryDelta => ({
  kind: "delta",
  nodeId,
  seq,
  added,
  removed,
});

describe("MemoryAudienceRegistry", () => {
  it("lists as framed the nodes whose last snapshot or heartbeat announced framed node messages, until dropped", () => {
    const r = new MemoryAudienceRegistry();
    const framed = [FRAMED_NODE_MESSAGES];
    r.applySnapshot({ ...snapshot("a", 0, []), nodeMessages: framed });
    r.applySnapshot(snapshot("b", 0, []));
    expect([...r.framedNodes()]).toEqual(["a"]);
    const digest = registryDigest([]);
    r.applyHeartbeat({ kind: "heartbeat", nodeId: "b", seq: 0, digest, nodeMessages: ["later-format", FRAMED_NODE_MESSAGES] }, 1);
    r.applyHeartbeat({ kind: "heartbeat", nodeId: "a", seq: 0, digest }, 1);
    expect([...r.framedNodes()]).toEqual(["b"]);
    r.dropNode("b");
    expect(r.framedNodes().size).toBe(0);
    // a stale snapshot changes nothing, the capability included
    r.applySnapshot({ ...snapshot("a", 5, []), nodeMessages: framed });
    expect(r.applySnapshot(snapshot("a", 4, []))).toBe("stale");
    expect([...r.framedNodes()]).toEqual(["a"]);
  });

  it("needs a snapshot before it applies a node's deltas", () => {
    const r = new MemoryAudienceRegistry();
    expect(r.applyDelta(delta("a", 1, ["user:u"]))).toBe("needs-snapshot");
    expect(r.nodesFor("user:u").size).toBe(0);
    expect(r.applySnapshot(snapshot("a", 0, []))).toBe("applied");
    expect(r.applyDelta(delta("a", 1, ["user:u"]))).toBe("applied");
    expect([...r.nodesFor("user:u")]).toEqual(["a"]);
  });

  it("applies deltas strictly in sequence: duplicates are stale, gaps change nothing", () => {
    const r = new MemoryAudienceRegistry();
    r.applySnapshot(snapshot("a", 5, ["user:x"]));
    expect(r.applyDelta(delta("a", 5, ["user:y"]))).toBe("stale");
    expect(r.applyDelta(delta("a", 7, ["user:y"]))).toBe("needs-snapshot");
    expect(r.nodesFor("user:y").size).toBe(0);
    expect(r.applyDelta(delta("a", 6, ["user:y"], ["user:x"]))).toBe("applied");
    expect(r.nodesFor("user:x").size).toBe(0);
    expect([...r.nodesFor("user:y")]).toEqual(["a"]);
  });

  it("maps a key to every node holding it, and back to one when the others leave", () => {
    const r = new MemoryAudienceRegistry();
    r.applySnapshot(snapshot("a", 0, ["group:g", "user:1"]));
    r.applySnapshot(snapshot("b", 0, ["group:g"]));
    r.applySnapshot(snapshot("c", 0, ["group:g", "user:1"]));
    expect([...r.nodesFor("group:g")].sort()).toEqual(["a", "b", "c"]);
    expect([...r.nodesFor("user:1")].sort()).toEqual(["a", "c"]);
    r.applyDelta(delta("a", 1, [], ["group:g", "user:1"]));
    r.applyDelta(delta("c", 1, [], ["group:g"]));
    expect([...r.nodesFor("group:g")]).toEqual(["b"]);
    expect([...r.nodesFor("user:1")]).toEqual(["c"]);
    expect(r.size()).toBe(2);
    expect(r.keyCount()).toBe(2);
  });

  it("answers global with every live node", () => {
    const r = new MemoryAudienceRegistry();
    r.applySnapshot(snapshot("a", 0, []));
    r.applySnapshot(snapshot("b", 0, ["user:1"]));
    expect([...r.nodesFor("global")].sort()).toEqual(["a", "b"]);
    expect(r.liveNodes()).toBe(r.nodesFor("global"));
  });

  it("replaces a node's keys with a snapshot and refuses an older one", () => {
    const r = new MemoryAudienceRegistry();
    r.applySnapshot(snapshot("a", 3, ["user:1", "user:2"]));
    r.applySnapshot(snapshot("b", 0, ["user:2"]));
    expect(r.applySnapshot(snapshot("a", 4, ["user:2", "user:3"]))).toBe("applied");
    expect(r.nodesFor("user:1").size).toBe(0);
    expect([...r.nodesFor("user:2")].sort()).toEqual(["a", "b"]);
    expect([...r.nodesFor("user:3")]).toEqual(["a"]);
    expect(r.applySnapshot(snapshot("a", 2, []))).toBe("stale");
    expect(r.size()).toBe(3);
  });

  it("checks heartbeats against the applied sequence and digest", () => {
    const r = new MemoryAudienceRegistry();
    expect(r.applyHeartbeat({ kind: "heartbeat", nodeId: "a", seq: 0, digest: registryDigest([]) }, 1)).toBe("needs-snapshot");
    r.applySnapshot(snapshot("a", 1, ["user:1"]));
    const ok = { kind: "heartbeat", nodeId: "a", seq: 1, digest: registryDigest(["user:1"]) } as const;
    expect(r.applyHeartbeat(ok, 2)).toBe("applied");
    expect(r.applyHeartbeat({ ...ok, seq: 2 }, 3)).toBe("needs-snapshot");
    expect(r.applyHeartbeat({ ...ok, digest: registryDigest(["user:2"]) }, 4)).toBe("needs-snapshot");
    // Behind: the node restarted under the same id.
    expect(r.applyHeartbeat({ ...ok, seq: 0 }, 5)).toBe("needs-snapshot");
  });

  it("keeps the digest in step with deltas, whatever order keys come in", () => {
    const r = new MemoryAudienceRegistry();
    r.applySnapshot(snapshot("a", 0, ["user:1"]));
    r.applyDelta(delta("a", 1, ["user:2", "user:3"]));
    r.applyDelta(delta("a", 2, ["user:2"], ["user:1"]));
    const hb = { kind: "heartbeat", nodeId: "a", seq: 2, digest: registryDigest(["user:3", "user:2"]) } as const;
    expect(r.applyHeartbeat(hb, 1)).toBe("applied");
  });

  it("drops a node with all its keys, and silent nodes by their last heartbeat", () => {
    let now = 1000;
    const r = new MemoryAudienceRegistry({ now: () => now });
    r.applySnapshot(snapshot("a", 0, ["user:1", "group:g"]));
    r.applySnapshot(snapshot("b", 0, ["group:g"]));
    now = 2000;
    r.applyHeartbeat({ kind: "heartbeat", nodeId: "b", seq: 0, digest: registryDigest(["group:g"]) }, now);
    expect(r.dropSilent(2500, 1000)).toEqual(["a"]);
    expect(r.nodesFor("user:1").size).toBe(0);
    expect([...r.nodesFor("group:g")]).toEqual(["b"]);
    expect([...r.liveNodes()]).toEqual(["b"]);
    r.dropNode("b");
    r.dropNode("b");
    expect(r.size()).toBe(0);
    expect(r.keyCount()).toBe(0);
    expect(r.liveNodes().size).toBe(0);
  });

  it("keeps memberships consistent under random churn", () => {
    const r = new MemoryAudienceRegistry();
    const truth = new Map<string, Set<string>>();
    const nodes = ["n0", "n1", "n2", "n3"];
    const seq = new Map(nodes.map((n) => [n, 0]));
    for (const n of nodes) {
      r.applySnapshot(snapshot(n, 0, []));
      truth.set(n, new Set());
    }
    let rnd = 42;
    const next = () => (rnd = (Math.imul(rnd, 1103515245) + 12345) >>> 0);
    for (let i = 0; i < 5000; i++) {
      const n = nodes[next() % nodes.length]!;
      const key = `group:${next() % 50}`;
      const keys = truth.get(n)!;
      const s = seq.get(n)! + 1;
      seq.set(n, s);
      if (keys.has(key)) {
        keys.delete(key);
        r.applyDelta(delta(n, s, [], [key]));
      } else {
        keys.add(key);
        r.applyDelta(delta(n, s, [key]));
      }
      if (next() % 500 === 0) {
        r.dropNode(n);
        keys.clear();
        r.applySnapshot(snapshot(n, s, []));
      }
    }
    let memberships = 0;
    for (let k = 0; k < 50; k++) {
      const key = `group:${k}`;
      const expected = nodes.filter((n) => truth.get(n)!.has(key)).sort();
      expect([...r.nodesFor(key)].sort()).toEqual(expected);
      memberships += expected.length;
    }
    expect(r.size()).toBe(memberships);
  });
});

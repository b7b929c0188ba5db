/**
 * Registry protocol scenarios (docs/architecture.md §4), run over the in-process bus and
 * over a real nats-server: start-up sync, live deltas, lost deltas, silent nodes, restarts.
 */
import { afterEach, describe, expect, it } from "vitest";
import { FRAMED_NODE_MESSAGES, subjects, type Bus } from "@tidings/contracts";
import { sleep, waitFor } from "@tidings/testkit";
import { MemoryAudienceRegistry, RegistryAnnouncer, RegistryTracker, registryDigest } from "../src/index.js";
import { LossyBus, isDeltaOf } from "./lossy-bus.js";

export interface RegistryBusFactory {
  /** A bus on the shared message space (NATS: a new connection). */
  connect(): Promise<Bus>;
  dispose(): Promise<void>;
}

const HEARTBEAT_MS = 100;

export function describeRegistryScenarios(name: string, makeFactory: () => Promise<RegistryBusFactory>): void {
  describe(`${name} - registry protocol`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });

    const setup = async () => {
      const factory = await makeFactory();
      cleanups.push(() => factory.dispose());
      const node = async (
        nodeId: string,
        opts: { heartbeatIntervalMs?: number; maxMessageBytes?: number; ackTimeoutMs?: number; nodeMessages?: readonly string[] } = {},
      ) => {
        const bus = new LossyBus(await factory.connect());
        const announcer = new RegistryAnnouncer({ bus, nodeId, heartbeatIntervalMs: opts.heartbeatIntervalMs ?? HEARTBEAT_MS, ...opts });
        cleanups.push(() => announcer.stop());
        return { bus, announcer };
      };
      const router = async (heartbeatIntervalMs = HEARTBEAT_MS) => {
        const bus = await factory.connect();
        const registry = new MemoryAudienceRegistry();
        const tracker = new RegistryTracker({ bus, registry, heartbeatIntervalMs, syncWindowMs: 200, snapshotTimeoutMs: 1000 });
        cleanups.push(() => tracker.stop());
        return { registry, tracker, bus };
      };
      return { node, router, connect: () => factory.connect() };
    };

    /** `key → sorted node ids` for the given keys, as the registry sees them. */
    const view = (registry: MemoryAudienceRegistry, keys: string[]) =>
      Object.fromEntries(keys.map((k) => [k, [...registry.nodesFor(k)].sort()]));

    it("a starting router learns every node's keys (paged snapshots included) before it is ready", async () => {
      const { node, router } = await setup();
      const a = await node("node-a", { maxMessageBytes: 2000 });
      const b = await node("node-b");
      const manyKeys = Array.from({ length: 1000 }, (_, i) => `user:u${i}`);
      for (const k of manyKeys) a.announcer.add(k);
      b.announcer.add("group:g");
      a.announcer.add("group:g");
      await a.announcer.start();
      await b.announcer.start();
      const r = await router();
      expect(r.tracker.ready).toBe(false);
      await r.tracker.start();
      expect(r.tracker.ready).toBe(true);
      expect([...r.registry.liveNodes()].sort()).toEqual(["node-a", "node-b"]);
      expect(r.registry.size()).toBe(1002);
      expect([...r.registry.nodesFor("user:u999")]).toEqual(["node-a"]);
      expect([...r.registry.nodesFor("group:g")].sort()).toEqual(["node-a", "node-b"]);
    });

    it("applies live deltas: first join and last leave only, Global and Connection keys ignored", async () => {
      const { node, router } = await setup();
      const a = await node("node-a");
      await a.announcer.start();
      const r = await router();
      await r.tracker.start();
      const seqBefore = a.announcer.seq;
      a.announcer.add("user:1");
      a.announcer.add("user:1");
      a.announcer.add("global");
      a.announcer.add("Xq3kL9vB2mN8pR4tW6yZ1anode-a");
      await waitFor(() => r.registry.nodesFor("user:1").size === 1, 5000, "join");
      expect(a.announcer.seq).toBe(seqBefore + 1);
      a.announcer.remove("user:1");
      await sleep(HEARTBEAT_MS * 2);
      expect([...r.registry.nodesFor("user:1")]).toEqual(["node-a"]);
      a.announcer.remove("user:1");
      await waitFor(() => r.registry.nodesFor("user:1").size === 0, 5000, "last leave");
      expect(a.announcer.seq).toBe(seqBefore + 2);
      expect(r.registry.size()).toBe(0);
      expect(r.tracker.snapshotsFetched).toBe(1);
    });

    it("repairs a lost delta from a snapshot when the next delta shows the gap", async () => {
      const { node, router } = await setup();
      // No heartbeats during the test: only the next delta can reveal the loss.
      const a = await node("node-a", { heartbeatIntervalMs: 60_000 });
      await a.announcer.start();
      const r = await router(60_000);
      await r.tracker.start();
      const fetched = r.tracker.snapshotsFetched;
      a.bus.drop = isDeltaOf("node-a");
      a.announcer.add("user:lost");
      a.announcer.flush();
      a.bus.drop = null;
      expect(a.bus.dropped).toBe(1);
      await sleep(100);
      expect(r.registry.nodesFor("user:lost").size).toBe(0);
      a.announcer.add("user:next");
      await waitFor(() => r.registry.nodesFor("user:lost").size === 1 && r.registry.nodesFor("user:next").size === 1, 5000, "repair");
      expect(r.tracker.snapshotsFetched).toBe(fetched + 1);
      expect(r.registry.size()).toBe(2);
    });

    it("repairs a lost last delta from the heartbeat that is ahead of it", async () => {
      const { node, router } = await setup();
      const a = await node("node-a");
      await a.announcer.start();
      const r = await router();
      await r.tracker.start();
      a.announcer.add("user:keep");
      await waitFor(() => r.registry.nodesFor("user:keep").size === 1, 5000, "join");
      a.bus.drop = isDeltaOf("node-a");
      a.announcer.remove("user:keep");
      a.announcer.flush();
      a.bus.drop = null;
      await waitFor(() => r.registry.nodesFor("user:keep").size === 0, 5000, "repair from heartbeat");
    });

    it("repairs a view whose digest disagrees with the node's at the same sequence", async () => {
      const { node, router } = await setup();
      const a = await node("node-a");
      a.announcer.add("user:1");
      await a.announcer.start();
      const r = await router();
      await r.tracker.start();
      // Corrupt the router's view without changing the sequence.
      const seq = r.registry.seqOf("node-a")!;
      r.registry.applySnapshot({ kind: "snapshot", nodeId: "node-a", seq, keys: ["user:bogus"], digest: registryDigest(["user:bogus"]) });
      expect(r.registry.nodesFor("user:1").size).toBe(0);
      await waitFor(() => r.registry.nodesFor("user:1").size === 1 && r.registry.nodesFor("user:bogus").size === 0, 5000, "repair");
    });

    it("acknowledged() resolves only once every live router routes by the join, and a leaving router is not waited for", async () => {
      const { node, router } = await setup();
      const a = await node("node-a");
      await a.announcer.start();
      const routers = [await router(), await router()];
      for (const r of routers) await r.tracker.start();
      await waitFor(() => a.announcer.routerCount === 2, 5000, "both routers known to the node");
      for (let i = 0; i < 50; i++) {
        a.announcer.add(`group:ack${i}`);
        expect(await a.announcer.acknowledged()).toBe(true);
        // Checked synchronously after the resolution: no router may still be missing it.
        for (const r of routers) expect([...r.registry.nodesFor(`group:ack${i}`)]).toEqual(["node-a"]);
      }
      await routers[1]!.tracker.stop();
      await waitFor(() => a.announcer.routerCount === 1, 5000, "the stopped router forgotten");
      a.announcer.add("group:after-leave");
      const started = Date.now();
      expect(await a.announcer.acknowledged()).toBe(true);
      expect(Date.now() - started).toBeLessThan(1000);
      expect(routers[0]!.registry.nodesFor("group:after-leave").size).toBe(1);
    });

    it("acknowledged() gives up after the ack timeout on a router that vanished, which is forgotten after three heartbeats", async () => {
      const { node, connect } = await setup();
      const a = await node("node-a", { ackTimeoutMs: 150 });
      await a.announcer.start();
      const ghost = await connect();
      ghost.publish(subjects.registryAck("node-a"), new TextEncoder().encode(JSON.stringify({ kind: "ack", routerId: "ghost", seq: 0 })));
      await waitFor(() => a.announcer.routerCount === 1, 5000, "the ghost router known");
      a.announcer.add("group:unanswered");
      const started = Date.now();
      expect(await a.announcer.acknowledged()).toBe(false);
      expect(Date.now() - started).toBeGreaterThanOrEqual(140);
      await waitFor(() => a.announcer.routerCount === 0, 5000, "the ghost forgotten");
      expect(await a.announcer.acknowledged()).toBe(true);
    });

    it("drops a node after three missed heartbeats", async () => {
      const { node, router } = await setup();
      const a = await node("node-a");
      const b = await node("node-b");
      a.announcer.add("group:g");
      b.announcer.add("group:g");
      await a.announcer.start();
      await b.announcer.start();
      const r = await router();
      await r.tracker.start();
      expect(r.registry.nodesFor("group:g").size).toBe(2);
      const silentSince = Date.now();
      await b.announcer.stop();
      await waitFor(() => !r.registry.liveNodes().has("node-b"), 5000, "node-b dropped");
      const after = Date.now() - silentSince;
      expect(after).toBeGreaterThanOrEqual(HEARTBEAT_MS * 2);
      expect([...r.registry.nodesFor("group:g")]).toEqual(["node-a"]);
      await sleep(HEARTBEAT_MS * 4);
      expect(r.registry.liveNodes().has("node-a")).toBe(true);
    });

    it("a restarted router rebuilds the same view, including changes made while it was down", async () => {
      const { node, router } = await setup();
      const nodes = await Promise.all(["node-a", "node-b", "node-c"].map((id) => node(id)));
      const keys = Array.from({ length: 30 }, (_, i) => (i % 3 === 0 ? `group:g${i}` : `user:u${i}`));
      nodes.forEach((n, i) => keys.forEach((k, j) => (j % 3 === i || k.startsWith("group:") ? n.announcer.add(k) : undefined)));
      for (const n of nodes) await n.announcer.start();
      const first = await router();
      await first.tracker.start();
      const before = view(first.registry, keys);
      await first.tracker.stop();
      nodes[0]!.announcer.remove("group:g0");
      nodes[1]!.announcer.add("user:new");
      await sleep(50);
      const second = await router();
      await second.tracker.start();
      const expected = { ...before, "group:g0": ["node-b", "node-c"], "user:new": ["node-b"] };
      expect(view(second.registry, [...keys, "user:new"])).toEqual(expected);
    });

    it("rebuilds a node that restarted under the same id and counts from 1 again", async () => {
      const { node, router } = await setup();
      const first = await node("node-a");
      first.announcer.add("user:old1");
      first.announcer.add("user:old2");
      await first.announcer.start();
      first.announcer.add("user:old3");
      const r = await router();
      await r.tracker.start();
      await waitFor(() => r.registry.size() === 3, 5000, "three keys");
      await first.announcer.stop();
      const again = await node("node-a");
      again.announcer.add("user:fresh");
      await again.announcer.start();
      await waitFor(() => r.registry.nodesFor("user:fresh").size === 1 && r.registry.size() === 1, 5000, "rebuilt");
      expect(r.registry.nodesFor("user:old1").size).toBe(0);
    });

    it("routers learn which nodes read framed node messages from their snapshots and heartbeats, and forget it when a node restarts without", async () => {
      const { node, router } = await setup();
      const framed = await node("node-framed", { nodeMessages: [FRAMED_NODE_MESSAGES] });
      const plain = await node("node-plain");
      await framed.announcer.start();
      await plain.announcer.start();
      const r = await router();
      await r.tracker.start();
      // from the snapshots the tracker fetched at start
      expect([...r.registry.liveNodes()].sort()).toEqual(["node-framed", "node-plain"]);
      expect([...r.registry.framedNodes()]).toEqual(["node-framed"]);
      // an older version restarted under the same id announces nothing: its heartbeat takes the capability back
      await framed.announcer.stop();
      const older = await node("node-framed");
      await older.announcer.start();
      await waitFor(() => !r.registry.framedNodes().has("node-framed"), 5000, "capability withdrawn");
      expect(r.registry.liveNodes().has("node-framed")).toBe(true);
      // and a newer one announcing it again is a framed node from its next heartbeat
      await older.announcer.stop();
      const newer = await node("node-framed", { nodeMessages: [FRAMED_NODE_MESSAGES] });
      await newer.announcer.start();
      await waitFor(() => r.registry.framedNodes().has("node-framed"), 5000, "capability announced again");
    });
  });
}

import { afterEach, describe, expect, it } from "vitest";
import { Registry } from "prom-client";
import { MemoryAudienceRegistry, MemoryBus, MemoryIngestQueue, createIngestPublisher, encodeIngestBody, registryDigest, type IngestBacklog } from "@tidings/bus";
import { MemoryNotificationStore, mintId, subjects, type BusMessage, type IngestMessage, type IngestQueue, type Notification } from "@tidings/contracts";
import { silentLogger } from "@tidings/observability";
import { FaultyStore, sleep, waitFor } from "@tidings/testkit";
import { createRouterMetrics, metricNames } from "./metrics.js";
import { createRouter, type Router } from "./router.js";

const dec = new TextDecoder();

interface Harness {
  bus: MemoryBus;
  queue: IngestQueue & IngestBacklog;
  store: FaultyStore<MemoryNotificationStore>;
  registry: MemoryAudienceRegistry;
  metrics: Registry;
  router: Router;
  /** Messages per node subject, and dead letters. */
  nodeMessages: Map<string, BusMessage[]>;
  deadLetters: BusMessage[];
  /** `ack:<id>` and `nak:<id>` in the order the router called them, with whatever a test adds. */
  events: string[];
  publish(envelope: unknown, opts?: { format?: "json" | "msgpack"; headers?: Record<string, string>; msgId?: string }): Promise<void>;
  received(nodeId: string): Notification[];
}

let harnesses: Harness[] = [];
afterEach(async () => {
  for (const h of harnesses) {
    await h.router.stop();
    await h.bus.close();
  }
  harnesses = [];
});

let msgIds = 0;

/** The envelope id of an ingest message, for the event log. */
function idOf(m: IngestMessage): string {
  try {
    return (JSON.parse(dec.decode(m.data)) as { id?: string }).id ?? "?";
  } catch {
    return "?";
  }
}

async function harness(nodes: Record<string, string[]> = {}): Promise<Harness> {
  const bus = new MemoryBus();
  const memoryQueue = new MemoryIngestQueue({ ackWaitMs: 2000 });
  const events: string[] = [];
  // The queue as the router sees it, logging each ack and nak.
  const queue: IngestQueue & IngestBacklog = {
    publish: (subject, data, opts) => memoryQueue.publish(subject, data, opts),
    pending: () => memoryQueue.pending(),
    consume: (handler, opts) =>
      memoryQueue.consume(
        (m) =>
          handler({
            subject: m.subject,
            data: m.data,
            headers: m.headers,
            deliveryCount: m.deliveryCount,
            working: () => m.working(),
            ack: () => {
              events.push(`ack:${idOf(m)}`);
              return m.ack();
            },
            nak: (delayMs) => {
              events.push(`nak:${idOf(m)}`);
              m.nak(delayMs);
            },
          }),
        opts,
      ),
  };
  const store = new FaultyStore(new MemoryNotificationStore());
  const registry = new MemoryAudienceRegistry();
  for (const [nodeId, keys] of Object.entries(nodes)) {
    registry.applySnapshot({ kind: "snapshot", nodeId, seq: 0, keys, digest: registryDigest(keys) });
  }
  const metrics = new Registry();
  const router = createRouter({
    bus,
    queue,
    store,
    registry,
    log: silentLogger(),
    metrics: createRouterMetrics(metrics),
    options: {
      defaultTtlSeconds: 1800,
      maxNotificationBytes: 65536,
      maxInFlight: 16,
      storeProbeMs: 50,
      storeProbeMaxMs: 200,
      storeRefusedRetryMs: 50,
      holdHeartbeatMs: 500,
      // Nodes here are injected, not announced: no sweep may drop them during a test.
      registry: { heartbeatIntervalMs: 60_000, syncWindowMs: 10 },
    },
  });
  const nodeMessages = new Map<string, BusMessage[]>();
  const deadLetters: BusMessage[] = [];
  bus.subscribe("tidings.v1.node.>", (m) => {
    const list = nodeMessages.get(m.subject) ?? [];
    list.push(m);
    nodeMessages.set(m.subject, list);
  });
  bus.subscribe(subjects.deadLetter, (m) => void deadLetters.push(m));
  await router.start();
  const h: Harness = {
    bus,
    queue,
    store,
    registry,
    metrics,
    router,
    nodeMessages,
    deadLetters,
    events,
    async publish(envelope, opts = {}) {
      const { data, headers } = encodeIngestBody(envelope, opts.format ?? "json");
      await queue.publish(subjects.notify("test"), data, { msgId: opts.msgId ?? `m${++msgIds}`, headers: { ...headers, ...opts.headers } });
    },
    received(nodeId) {
      return (nodeMessages.get(subjects.node(nodeId)) ?? []).map((m) => JSON.parse(dec.decode(m.data)) as Notification);
    },
  };
  harnesses.push(h);
  return h;
}

const envelope = (id: string, audienceType: number, audienceValue?: string, extra: Record<string, unknown> = {}) => ({
  id,
  type: "invoice-ready",
  body: { n: id },
  routing: audienceValue === undefined ? { audienceType } : { audienceType, audienceValue },
  metadata: { producer: "billing", ...extra },
});

async function counterValue(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((sum, v) => sum + v.value, 0);
}

describe("router - routing to owning nodes", () => {
  it("publishes a User notification only on the subject of the node that holds the user", async () => {
    const h = await harness({ "node-a": ["user:other"], "node-b": ["user:u1"], "node-c": [] });
    await h.publish(envelope("n1", 4, "u1"));
    await waitFor(() => h.received("node-b").length === 1, 5000, "delivery to node-b");
    await sleep(50);
    expect(h.received("node-a")).toHaveLength(0);
    expect(h.received("node-c")).toHaveLength(0);
    const n = h.received("node-b")[0]!;
    expect(n.id).toBe("n1");
    expect(n.routing.audienceId).toBe("user:u1");
    expect(n.metadata.isPersisted).toBe(false);
    expect(typeof n.metadata.timeStamp).toBe("string");
    expect(await h.queue.pending()).toBe(0);
  });

  it("publishes Global to every live node, a Group only to nodes with members, a Connection to its owner", async () => {
    const h = await harness({ "node-a": ["group:g"], "node-b": [], "node-c": ["group:g"] });
    await h.publish(envelope("g1", 1));
    await h.publish(envelope("grp1", 3, "g"));
    await h.publish(envelope("c1", 5, mintId("node-b")));
    await h.publish(envelope("nobody", 4, "absent"));
    await waitFor(() => h.received("node-b").length === 2 && h.received("node-a").length === 2 && h.received("node-c").length === 2, 5000, "deliveries");
    await sleep(50);
    expect(h.received("node-a").map((n) => n.id)).toEqual(["g1", "grp1"]);
    expect(h.received("node-b").map((n) => n.id)).toEqual(["g1", "c1"]);
    expect(h.received("node-c").map((n) => n.id)).toEqual(["g1", "grp1"]);
    expect(await counterValue(h.metrics, "tidings_router_notifications_routed_total")).toBe(4);
    expect(await counterValue(h.metrics, "tidings_router_node_publishes_total")).toBe(6);
  });

  it("reads MessagePack envelopes marked by Content-Type", async () => {
    const h = await harness({ "node-a": ["user:m"] });
    await h.publish(envelope("mp1", 4, "m"), { format: "msgpack" });
    await waitFor(() => h.received("node-a").length === 1, 5000, "delivery");
    expect(h.received("node-a")[0]!.body).toEqual({ n: "mp1" });
  });

  it("passes traceparent and tracestate on to the node publishes", async () => {
    const h = await harness({ "node-a": [] });
    const traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    await h.publish(envelope("t1", 1), { headers: { traceparent, tracestate: "v=1" } });
    await waitFor(() => h.nodeMessages.get(subjects.node("node-a"))?.length === 1, 5000, "delivery");
    expect(h.nodeMessages.get(subjects.node("node-a"))![0]!.headers).toEqual({ traceparent, tracestate: "v=1" });
  });

  it("publishes notifications to one audience in the order they were fetched, whatever the store latency", async () => {
    const h = await harness({ "node-a": ["user:o"] });
    let i = 0;
    const save = h.store.save.bind(h.store);
    h.store.save = async (n) => {
      await sleep(i++ % 2 === 0 ? 15 : 0);
      return save(n);
    };
    for (let k = 0; k < 20; k++) await h.publish(envelope(`o${k}`, 4, "o", { isPersisted: true }));
    await waitFor(() => h.received("node-a").length === 20, 10_000, "20 deliveries");
    expect(h.received("node-a").map((n) => n.id)).toEqual(Array.from({ length: 20 }, (_, k) => `o${k}`));
  });
  it("routes a live notification fetched behind a persisted one of its audience after it, not at once", async () => {
    const h = await harness({ "node-a": ["user:m"] });
    const save = h.store.save.bind(h.store);
    h.store.save = async (n) => {
      await sleep(15);
      return save(n);
    };
    // persisted, live, persisted, live…: each live one finds the audience busy with the save before it
    for (let k = 0; k < 20; k++) await h.publish(envelope(`m${k}`, 4, "m", k % 2 === 0 ? { isPersisted: true } : {}));
    await waitFor(() => h.received("node-a").length === 20, 10_000, "20 deliveries");
    expect(h.received("node-a").map((n) => n.id)).toEqual(Array.from({ length: 20 }, (_, k) => `m${k}`));
  });
});

describe("router - invalid input", () => {
  it("dead-letters an invalid envelope raw, with the reason, counts it and acks it", async () => {
    const h = await harness({ "node-a": [] });
    const bad = { id: "bad1", type: "x", routing: { audienceType: 9 }, metadata: {} };
    await h.publish(bad, { msgId: "bad-1" });
    await waitFor(() => h.deadLetters.length === 1, 5000, "dead letter");
    const dl = h.deadLetters[0]!;
    expect(JSON.parse(dec.decode(dl.data))).toEqual(bad);
    expect(dl.headers?.["Tidings-Error"]).toMatch(/^invalid_envelope: /);
    expect(dl.headers?.["Tidings-Error"]).toContain("routing.audienceType must be an integer from 1 to 5");
    expect(dl.headers?.["Tidings-Error"]).toContain("metadata.producer is required");
    expect(dl.headers?.["Nats-Msg-Id"]).toBe("bad-1");
    expect(dl.headers?.["Tidings-Subject"]).toBe(subjects.notify("test"));
    await sleep(2500);
    expect(h.deadLetters).toHaveLength(1);
    expect(h.received("node-a")).toHaveLength(0);
    expect(await counterValue(h.metrics, "tidings_router_notifications_deadlettered_total", { reason: "invalid_envelope" })).toBe(1);
  });

  it("dead-letters bodies that are not JSON or not MessagePack, and keeps routing", async () => {
    const h = await harness({ "node-a": [] });
    await h.queue.publish(subjects.notify("test"), new TextEncoder().encode("{not json"), { msgId: "j" });
    await h.queue.publish(subjects.notify("test"), Uint8Array.of(0xc1), { msgId: "p", headers: { "Content-Type": "application/msgpack" } });
    await h.publish(envelope("ok1", 1));
    await waitFor(() => h.deadLetters.length === 2 && h.received("node-a").length === 1, 5000, "dead letters and delivery");
    const reasons = h.deadLetters.map((d) => d.headers?.["Tidings-Error"]?.split(":")[0]).sort();
    expect(reasons).toEqual(["malformed_json", "malformed_msgpack"]);
    expect(await counterValue(h.metrics, "tidings_router_notifications_deadlettered_total", { reason: "malformed_json" })).toBe(1);
    expect(await counterValue(h.metrics, "tidings_router_notifications_deadlettered_total", { reason: "malformed_msgpack" })).toBe(1);
  });

  it("dead-letters an envelope above the size limit", async () => {
    const h = await harness({ "node-a": [] });
    await h.publish(envelope("small", 1));
    await h.publish({ ...envelope("big", 1), body: "x".repeat(70_000) });
    await waitFor(() => h.deadLetters.length === 1 && h.received("node-a").length === 1, 5000, "one dead letter");
    expect(h.deadLetters[0]!.headers?.["Tidings-Error"]).toContain("must be at most 65536 bytes");
  });
});

describe("router - unstorable notifications", () => {
  it("finding 6: dead-letters persisted envelopes with NUL or a too-deep body instead of retrying the save forever", async () => {
    const h = await harness({ "node-a": ["user:u1"] });
    let deep: unknown = [];
    for (let i = 1; i < 120; i++) deep = [deep];
    await h.publish(envelope("nul-user", 4, "u\u00001", { isPersisted: true }));
    await h.publish(envelope("nul-producer", 4, "u1", { isPersisted: true, producer: "bill\u0000ing" }));
    await h.publish({ ...envelope("nul-body", 4, "u1", { isPersisted: true }), body: { ["k\u0000"]: "v" } });
    await h.publish({ ...envelope("deep-body", 4, "u1", { isPersisted: true }), body: deep });
    await h.publish(envelope("fine", 4, "u1", { isPersisted: true }));
    await waitFor(() => h.deadLetters.length === 4 && h.received("node-a").length === 1, 5000, "four dead letters and one delivery");
    expect(h.deadLetters.map((d) => d.headers?.["Tidings-Error"]?.split(":")[0])).toEqual(Array(4).fill("invalid_envelope"));
    expect(h.received("node-a").map((n) => n.id)).toEqual(["fine"]);
    expect(h.store.saves).toBe(1);
  });
});

describe("router - persistence", () => {
  it("saves a persisted notification before publishing it, and only persisted ones", async () => {
    const h = await harness({ "node-a": ["user:p"] });
    const order: string[] = [];
    const saveMany = h.store.saveMany.bind(h.store);
    h.store.saveMany = async (ns) => {
      for (const n of ns) order.push(`save:${n.id}`);
      return saveMany(ns);
    };
    h.bus.subscribe(subjects.node("node-a"), (m) => void order.push(`publish:${(JSON.parse(dec.decode(m.data)) as Notification).id}`));
    await h.publish(envelope("p1", 4, "p", { isPersisted: true }));
    await h.publish(envelope("live1", 4, "p"));
    await waitFor(() => h.received("node-a").length === 2, 5000, "deliveries");
    expect(order.filter((o) => o.endsWith("p1"))).toEqual(["save:p1", "publish:p1"]);
    expect(h.store.inner.size).toBe(1);
    expect(h.store.inner.get("user:p", "p1")?.metadata.persistedTTL).not.toBeNull();
  });

  it("sends the saves of messages fetched together as one batch, and acks each message only after its batch was saved", async () => {
    const users = Array.from({ length: 10 }, (_, k) => `user:b${k}`);
    const h = await harness({ "node-a": users });
    h.store.delayMs = 100;
    const saveMany = h.store.saveMany.bind(h.store);
    h.store.saveMany = async (ns) => {
      const outcomes = await saveMany(ns);
      h.events.push(...ns.map((n) => `saved:${n.id}`));
      return outcomes;
    };
    await Promise.all(users.map((u, k) => h.publish(envelope(`b${k}`, 4, u.slice(5), { isPersisted: true }))));
    await waitFor(() => h.events.filter((e) => e.startsWith("ack:")).length === 10, 5000, "ten acks");
    // 16 in flight: all ten were fetched at once, so far fewer store requests than notifications.
    expect(h.store.batches.reduce((a, b) => a + b, 0)).toBe(10);
    expect(h.store.batches.length).toBeLessThanOrEqual(3);
    for (let k = 0; k < 10; k++) {
      expect(h.events.indexOf(`saved:b${k}`), `b${k} saved before its ack`).toBeLessThan(h.events.indexOf(`ack:b${k}`));
    }
    expect(h.events.filter((e) => e.startsWith("nak:"))).toEqual([]);
    expect(h.store.inner.size).toBe(10);
  });

  it("saves the queued messages of one audience in one batch, and still publishes them in fetch order", async () => {
    const h = await harness({ "node-a": ["user:q"] });
    h.store.delayMs = 50;
    await Promise.all(Array.from({ length: 5 }, (_, k) => h.publish(envelope(`q${k}`, 4, "q", { isPersisted: true }))));
    await waitFor(() => h.received("node-a").length === 5, 5000, "five deliveries");
    expect(h.received("node-a").map((n) => n.id)).toEqual(["q0", "q1", "q2", "q3", "q4"]);
    expect(h.store.batches).toEqual([5]);
  });

  it("naks only the notification of a batch whose save the store refused, and acks the others of that batch", async () => {
    const h = await harness({ "node-a": ["user:x1", "user:x2", "user:x3", "user:x4"] });
    h.store.refuse.add("x-bad");
    await Promise.all([
      h.publish(envelope("x-ok1", 4, "x1", { isPersisted: true })),
      h.publish(envelope("x-bad", 4, "x2", { isPersisted: true })),
      h.publish(envelope("x-ok3", 4, "x3", { isPersisted: true })),
      h.publish(envelope("x-ok4", 4, "x4", { isPersisted: true })),
    ]);
    await waitFor(() => h.deadLetters.length === 1, 5000, "the refused one dead-lettered after its deliveries");
    expect(h.store.batches[0]).toBe(4);
    // Two deliveries nak'ed, the third dead-lettered (and so acked); the others acked once, never nak'ed.
    expect(h.events.filter((e) => e.endsWith(":x-bad"))).toEqual(["nak:x-bad", "nak:x-bad", "ack:x-bad"]);
    expect(h.events.filter((e) => !e.endsWith(":x-bad")).sort()).toEqual(["ack:x-ok1", "ack:x-ok3", "ack:x-ok4"]);
    expect(h.received("node-a").map((n) => n.id).sort()).toEqual(["x-ok1", "x-ok3", "x-ok4"]);
    expect(h.store.inner.has("user:x2", "x-bad")).toBe(false);
  });

  it("acks nothing of a batch the store could not answer, and saves and acks it once the store is back", async () => {
    const h = await harness({ "node-a": ["user:t1", "user:t2", "user:t3"] });
    h.store.down = true;
    await Promise.all(["t1", "t2", "t3"].map((u) => h.publish(envelope(`${u}-n`, 4, u, { isPersisted: true }))));
    await waitFor(async () => (await counterValue(h.metrics, "tidings_router_held_notifications")) === 3, 5000, "3 held");
    await sleep(300);
    expect(h.events).toEqual([]);
    expect(h.received("node-a")).toEqual([]);
    h.store.down = false;
    await waitFor(() => h.events.length === 3, 5000, "three acks");
    expect(h.events.sort()).toEqual(["ack:t1-n", "ack:t2-n", "ack:t3-n"]);
    expect(h.store.inner.size).toBe(3);
  });

  it("holds persisted notifications while the store is down without hammering it, and releases them in order within a probe of its return", async () => {
    const h = await harness({ "node-a": ["user:s", "user:live"] });
    h.store.down = true;
    for (let k = 0; k < 10; k++) await h.publish(envelope(`s${k}`, 4, "s", { isPersisted: true }));
    await h.publish(envelope("live1", 4, "live"));
    await waitFor(async () => (await counterValue(h.metrics, "tidings_router_held_notifications")) === 10, 5000, "10 held");
    // Longer than the ack wait (2 s): held messages are kept alive, not redelivered.
    await sleep(2600);
    expect(h.received("node-a").map((n) => n.id)).toEqual(["live1"]);
    expect(await counterValue(h.metrics, "tidings_router_jetstream_redeliveries_total")).toBe(0);
    expect(await counterValue(h.metrics, "tidings_router_held_oldest_age_seconds")).toBeGreaterThan(2);
    // One probe at a time, 50 ms doubling to 200 ms: about 15 probes in 2.6 s, not 10 saves per probe.
    const probes = await counterValue(h.metrics, "tidings_router_store_probes_total");
    expect(probes).toBeGreaterThan(5);
    expect(probes).toBeLessThan(25);
    expect(h.store.saves).toBeLessThan(probes + 11);
    h.store.down = false;
    const back = Date.now();
    await waitFor(() => h.received("node-a").length === 11, 5000, "held notifications delivered");
    expect(Date.now() - back).toBeLessThan(1000);
    expect(h.received("node-a").slice(1).map((n) => n.id)).toEqual(Array.from({ length: 10 }, (_, k) => `s${k}`));
    expect(h.store.inner.size).toBe(10);
    expect(await counterValue(h.metrics, "tidings_router_held_notifications")).toBe(0);
    expect(await counterValue(h.metrics, "tidings_router_held_oldest_age_seconds")).toBe(0);
    await sleep(100);
    expect(h.received("node-a")).toHaveLength(11);
  });

  it("stop() while the store is down hands held messages back at once instead of waiting for the store", async () => {
    const h = await harness({ "node-a": ["user:d"] });
    h.store.down = true;
    await h.publish(envelope("d1", 4, "d", { isPersisted: true }));
    await waitFor(async () => (await counterValue(h.metrics, "tidings_router_held_notifications")) === 1, 5000, "held");
    const t0 = Date.now();
    await h.router.stop();
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(h.received("node-a")).toHaveLength(0);
    expect(await h.queue.pending()).toBe(1);
  });

  it("dead-letters a persisted notification the store refuses for good after 3 deliveries, never delivers it, and keeps routing", async () => {
    const h = await harness({ "node-a": ["user:r"] });
    h.store.refuse.add("poison");
    await h.publish(envelope("poison", 4, "r", { isPersisted: true }), { msgId: "poison-1" });
    await h.publish(envelope("fine", 4, "r", { isPersisted: true }));
    await waitFor(() => h.deadLetters.length === 1, 5000, "dead letter");
    const dl = h.deadLetters[0]!;
    expect(dl.headers?.["Tidings-Error"]).toBe("store_refused: store save: the database refuses poison (test)");
    expect(dl.headers?.["Nats-Msg-Id"]).toBe("poison-1");
    expect((JSON.parse(dec.decode(dl.data)) as { id: string }).id).toBe("poison");
    expect(h.store.inner.has("user:r", "poison")).toBe(false);
    expect(h.store.saves).toBe(4);
    await waitFor(() => h.received("node-a").length === 1, 5000, "the other one delivered");
    await sleep(300);
    expect(h.received("node-a").map((n) => n.id)).toEqual(["fine"]);
    expect(h.deadLetters).toHaveLength(1);
    expect(await h.queue.pending()).toBe(0);
    expect(await counterValue(h.metrics, "tidings_router_notifications_deadlettered_total", { reason: "store_refused" })).toBe(1);
    expect(await counterValue(h.metrics, "tidings_router_store_failures_total")).toBe(0);
  });

  it("stop() lets a message in flight finish: saved, published and acked", async () => {
    const h = await harness({ "node-a": ["user:f"] });
    h.store.delayMs = 200;
    await h.publish(envelope("f1", 4, "f", { isPersisted: true }));
    await waitFor(() => h.store.saves === 1, 5000, "save started");
    await h.router.stop();
    expect(h.router.ready).toBe(false);
    expect(h.store.inner.size).toBe(1);
    await h.bus.flush();
    expect(h.received("node-a")).toHaveLength(1);
    expect(await h.queue.pending()).toBe(0);
    // Acked: nothing comes back for a consumer that starts after the ack wait.
    await sleep(2200);
    const seen: number[] = [];
    const c = h.queue.consume(async (m) => void seen.push(m.deliveryCount), { maxInFlight: 1 });
    await sleep(100);
    await c.stop();
    expect(seen).toEqual([]);
  });
});

describe("router - metrics", () => {
  it("registers exactly the names metricNames() lists, and samples registry and backlog gauges", async () => {
    const h = await harness({ "node-a": ["user:1", "group:g"], "node-b": ["group:g"] });
    const names = (await h.metrics.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual([...metricNames()].sort());
    expect(await counterValue(h.metrics, "tidings_router_registry_keys")).toBe(3);
    expect(await counterValue(h.metrics, "tidings_router_registry_nodes")).toBe(2);
    await h.router.stop();
    await h.publish(envelope("waiting", 1));
    expect(await counterValue(h.metrics, "tidings_router_jetstream_pending")).toBe(1);
  });
});

describe("ingest publisher", () => {
  it("publishes JSON to tidings.notify.http, de-duplicated per (audience, id) and not per id alone", async () => {
    const queue = new MemoryIngestQueue();
    const publish = createIngestPublisher(queue);
    const n = (id: string, audienceId: string): Notification => ({
      id,
      type: "t",
      body: null,
      routing: { audienceType: 4, audienceValue: audienceId.slice(5), tenantId: null, audienceId },
      metadata: { producer: "p", timeStamp: "2025-01-15T10:00:00.000Z", isPersisted: false, persistedTTL: null },
    });
    const first = await publish([n("x", "user:a"), n("x", "user:b")]);
    expect(first.map((r) => r.duplicate)).toEqual([false, false]);
    const retry = await publish([n("x", "user:a")]);
    expect(retry[0]).toEqual({ duplicate: true, seq: first[0]!.seq });
    const got: Array<[string, unknown, string | undefined]> = [];
    const c = queue.consume(async (m) => {
      got.push([m.subject, JSON.parse(dec.decode(m.data)), m.headers?.["Nats-Msg-Id"]]);
      await m.ack();
    }, { maxInFlight: 4 });
    await waitFor(() => got.length === 2, 5000, "two stored");
    await c.stop();
    expect(got[0]).toEqual(["tidings.notify.http", n("x", "user:a"), '["user:a","x"]']);
  });
});

import { afterEach, describe, expect, it } from "vitest";
import { MemoryIngestQueue, createIngestPublisher } from "@tidings/bus";
import { mintId, subjects, type Notification } from "@tidings/contracts";
import { sleep, waitFor } from "@tidings/testkit";
import { closeHarnesses, counterValue, dec, envelope, harness } from "../test/router-harness.js";
import { metricNames } from "./metrics.js";

afterEach(closeHarnesses);

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
    await waitFor(
      () => h.received("node-b").length === 2 && h.received("node-a").length === 2 && h.received("node-c").length === 2,
      5000,
      "deliveries",
    );
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
    const c = queue.consume(
      async (m) => {
        got.push([m.subject, JSON.parse(dec.decode(m.data)), m.headers?.["Nats-Msg-Id"]]);
        await m.ack();
      },
      { maxInFlight: 4 },
    );
    await waitFor(() => got.length === 2, 5000, "two stored");
    await c.stop();
    expect(got[0]).toEqual(["tidings.notify.http", n("x", "user:a"), '["user:a","x"]']);
  });
});

import { describe, expect, it } from "vitest";
import { encodeFramedNodeMessage, NodeMessage, type Notification } from "@tidings/contracts";
import { Registry } from "@tidings/observability";
import { jsonProtocol, messagePackProtocol, type HubProtocol } from "@tidings/protocol";
import type { HubConnection } from "./connection.js";
import type { ConnectionTable } from "./connection-table.js";
import type { EncodeFailures } from "./encode-failures.js";
import { Fanout, topicFor } from "./fanout.js";
import { createGatewayMetrics, TIMING_SAMPLE_EVERY } from "./metrics.js";

const WINDOW_MS = 1000;

/** Topic subscriptions counted as uWS counts them, and every publish that reached a subscriber recorded. */
function topics() {
  const subscribers = new Map<string, number>();
  const published: string[] = [];
  return {
    published,
    publisher: {
      publish: (topic: string) => {
        const reached = (subscribers.get(topic) ?? 0) > 0;
        if (reached) published.push(topic);
        return reached;
      },
      numSubscribers: (topic: string) => subscribers.get(topic) ?? 0,
    },
    transport: {
      subscribe: (topic: string) => void subscribers.set(topic, (subscribers.get(topic) ?? 0) + 1),
      unsubscribe: (topic: string) => void subscribers.set(topic, (subscribers.get(topic) ?? 0) - 1),
    },
  };
}

function setup() {
  const t = topics();
  const registry = new Registry();
  const metrics = createGatewayMetrics(registry, () => []);
  const failures = { report: () => undefined } as unknown as EncodeFailures;
  const fanout = new Fanout(t.publisher, {} as ConnectionTable, WINDOW_MS, metrics, failures);
  const connect = (protocol: HubProtocol) =>
    ({ audiences: new Set<string>(), protocol, transport: t.transport }) as unknown as HubConnection;
  return { fanout, published: t.published, registry, connect };
}

function notification(id: string, audienceId: string, timeStamp = "2026-01-01T00:00:00.000Z"): Notification {
  return {
    id,
    type: "t",
    body: { n: 1 },
    routing: { audienceType: 4, audienceValue: audienceId.slice(5), tenantId: null, audienceId },
    metadata: { producer: "tests", timeStamp, isPersisted: false, persistedTTL: null },
  };
}

/** A counter's value, or a histogram's `_count` / `_sum` (`name` ending in it). */
async function value(registry: Registry, name: string, labels: Record<string, string> = {}): Promise<number> {
  const base = name.replace(/_(count|sum)$/, "");
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name || m.name === base)!;
  const entries = Object.entries(labels);
  const sample = metric.values.find(
    (v) => ((v as { metricName?: string }).metricName ?? name) === name && entries.every(([k, want]) => v.labels[k] === want),
  );
  return sample?.value ?? 0;
}

describe("Fanout de-duplication", () => {
  it("delivers an (audience, id) once within the window and again after it; the same id to other audiences is its own delivery", () => {
    const { fanout } = setup();
    const t0 = 1_000_000;
    expect(fanout.deliver(notification("n1", "user:a"), t0)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:a"), t0 + 10)).toBe(false);
    // The same id to two more audiences, later in the window: each delivered once.
    expect(fanout.deliver(notification("n1", "user:b"), t0 + 500)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:c"), t0 + 600)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:b"), t0 + 700)).toBe(false);
    expect(fanout.deliver(notification("n1", "user:c"), t0 + 700)).toBe(false);
    expect(["user:a", "user:b", "user:c", "user:d"].map((a) => fanout.delivered(a, "n1"))).toEqual([true, true, true, false]);
    // user:a's delivery expires first; b and c are still within their windows.
    expect(fanout.deliver(notification("n2", "user:x"), t0 + WINDOW_MS)).toBe(true);
    expect(["user:a", "user:b", "user:c"].map((a) => fanout.delivered(a, "n1"))).toEqual([false, true, true]);
    expect(fanout.deliver(notification("n1", "user:a"), t0 + WINDOW_MS)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:b"), t0 + WINDOW_MS + 10)).toBe(false);
    expect(fanout.deliver(notification("n1", "user:b"), t0 + 500 + WINDOW_MS)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:c"), t0 + 600 + WINDOW_MS)).toBe(true);
  });

  it("forgets every expired delivery of a long run, keeping the ones within the window", () => {
    const { fanout } = setup();
    for (let i = 0; i < 5000; i++) expect(fanout.deliver(notification(`n${i}`, "user:a"), i)).toBe(true);
    // At 5000 the first 4001 (expiry <= 5000) are forgotten: the next deliver sweeps them.
    expect(fanout.deliver(notification("n4999", "user:a"), 5000)).toBe(false);
    expect(fanout.delivered("user:a", "n4000")).toBe(false);
    expect(fanout.delivered("user:a", "n4001")).toBe(true);
    expect(fanout.deliver(notification("n0", "user:a"), 5000)).toBe(true);
  });
});

describe("Fanout topics", () => {
  it("publishes to the topic of each protocol with a member in the audience, until its last member leaves", () => {
    const { fanout, published, connect } = setup();
    const json = connect(jsonProtocol);
    const msgpack = connect(messagePackProtocol);
    fanout.join(json, "user:a");
    fanout.join(msgpack, "user:a");
    fanout.deliver(notification("n1", "user:a"), 1);
    expect(published).toEqual([topicFor("json", "user:a"), topicFor("messagepack", "user:a")]);
    fanout.leave(json, "user:a");
    fanout.deliver(notification("n2", "user:a"), 2);
    expect(published.slice(2)).toEqual([topicFor("messagepack", "user:a")]);
    fanout.forget(msgpack);
    fanout.deliver(notification("n3", "user:a"), 3);
    fanout.deliverEvent("user:a", "Event", {});
    expect(published).toHaveLength(3);
  });

  it("counts a delivery to a one-member audience only once its member subscribed, as with several members", async () => {
    const { fanout, published, connect, registry } = setup();
    const deliveries = () => value(registry, "tidings_gateway_deliveries_total", { protocol: "json" });
    const alone = connect(jsonProtocol);
    // joined, its topic not subscribed yet (a cluster handshake waiting for the routers)
    fanout.join(alone, "user:a", false);
    fanout.deliver(notification("n1", "user:a"), 1);
    expect(published).toEqual([]);
    expect(fanout.lastPublishedTo(alone)).toBe(0);
    expect(await deliveries()).toBe(0);
    fanout.subscribeTopics(alone);
    fanout.deliver(notification("n2", "user:a"), 2);
    const second = connect(jsonProtocol);
    fanout.join(second, "user:a");
    fanout.deliver(notification("n3", "user:a"), 3);
    expect(published).toEqual([topicFor("json", "user:a"), topicFor("json", "user:a")]);
    expect(fanout.lastPublishedTo(alone)).toBe(3);
    expect(await deliveries()).toBe(1 + 2);
  });

  it("tells keep-alive when it last published to a connection's topics, and 0 for an audience joined after", () => {
    const { fanout, connect } = setup();
    const first = connect(jsonProtocol);
    fanout.join(first, "user:a");
    expect(fanout.lastPublishedTo(first)).toBe(0);
    fanout.deliver(notification("n1", "user:a"), 100);
    expect(fanout.lastPublishedTo(first)).toBe(100);
    fanout.leave(first, "user:a");
    const second = connect(jsonProtocol);
    fanout.join(second, "user:a");
    expect(fanout.lastPublishedTo(second)).toBe(0);
  });
});

describe("Fanout from framed node messages (the header's bytes, no strings)", () => {
  const framed = (n: Notification) => NodeMessage.read(encodeFramedNodeMessage(n));

  it("finds each of many audiences from the header bytes, ASCII and UTF-16LE, and publishes to its topic only", () => {
    const { fanout, published, connect } = setup();
    const keys = Array.from({ length: 500 }, (_, i) => (i % 2 === 0 ? `user:u${i}` : `user:Grüße-日本-${i}`));
    for (const key of keys) fanout.join(connect(i(key) % 3 === 0 ? messagePackProtocol : jsonProtocol), key);
    keys.forEach((key, k) => {
      expect(fanout.deliverMessage(framed(notification(`n${k}`, key)), k)).toBe(true);
      expect(published.at(-1)).toBe(topicFor(i(key) % 3 === 0 ? "messagepack" : "json", key));
    });
    expect(published).toHaveLength(keys.length);
    // an audience with no member here, one character off a local one: nothing published, still recorded
    expect(fanout.deliverMessage(framed(notification("n-x", "user:u1")), 600)).toBe(true);
    expect(fanout.deliverMessage(framed(notification("n-x", "user:u0 ")), 600)).toBe(true);
    expect(published).toHaveLength(keys.length);
    expect(fanout.delivered("user:u1", "n-x")).toBe(true);
  });

  it("a notification repeated in another form (object, framed ASCII, framed UTF-16LE) is a duplicate", () => {
    const { fanout, published, connect } = setup();
    fanout.join(connect(jsonProtocol), "user:a");
    fanout.join(connect(jsonProtocol), "user:é");
    expect(fanout.deliver(notification("n1", "user:a"), 1)).toBe(true);
    expect(fanout.deliverMessage(framed(notification("n1", "user:a")), 2)).toBe(false);
    // the audience id forces the UTF-16LE header; the id is the same id
    expect(fanout.deliverMessage(framed(notification("n1", "user:é")), 3)).toBe(true);
    expect(fanout.deliver(notification("n1", "user:é"), 4)).toBe(false);
    expect(fanout.deliverMessage(framed(notification("日本", "user:é")), 5)).toBe(true);
    expect(fanout.deliverMessage(framed(notification("日本", "user:é")), 6)).toBe(false);
    expect(published).toEqual(["user:a", "user:é", "user:é"]);
  });
});

/** A small deterministic number of a key, to spread keys over protocols. */
function i(key: string): number {
  let h = 0;
  for (let k = 0; k < key.length; k++) h = (h * 31 + key.charCodeAt(k)) >>> 0;
  return h;
}

describe("Fanout metrics", () => {
  it(`observes delivery latency for 1 in ${TIMING_SAMPLE_EVERY} delivered notifications while the counters stay exact`, async () => {
    const { fanout, registry, connect } = setup();
    fanout.join(connect(jsonProtocol), "user:a");
    const accepted = Date.parse("2026-01-01T00:00:00.000Z");
    const delivered = 2 * TIMING_SAMPLE_EVERY + 1;
    for (let i = 0; i < delivered; i++) fanout.deliver(notification(`n${i}`, "user:a"), accepted + 250);
    fanout.deliver(notification("n0", "user:a"), accepted + 250);
    expect(await value(registry, "tidings_gateway_notifications_total", { result: "delivered" })).toBe(delivered);
    expect(await value(registry, "tidings_gateway_notifications_total", { result: "duplicate" })).toBe(1);
    expect(await value(registry, "tidings_gateway_deliveries_total", { protocol: "json" })).toBe(delivered);
    // the 1st, the 17th and the 33rd: each 0.25 s
    expect(await value(registry, "tidings_gateway_delivery_latency_seconds_count")).toBe(3);
    expect(await value(registry, "tidings_gateway_delivery_latency_seconds_sum")).toBeCloseTo(0.75);
  });
});

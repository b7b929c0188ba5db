import { afterEach, describe, expect, it } from "vitest";
import { subjects, type Notification } from "@tidings/contracts";
import { sleep, waitFor } from "@tidings/testkit";
import { closeHarnesses, counterValue, dec, envelope, harness } from "../test/router-harness.js";

afterEach(closeHarnesses);

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
    expect(
      h
        .received("node-a")
        .map((n) => n.id)
        .sort(),
    ).toEqual(["x-ok1", "x-ok3", "x-ok4"]);
    expect(h.store.inner.has("user:x2", "x-bad")).toBe(false);
  });

  it("reuses its per-message state across batches without mixing messages up: 600 persisted and live notifications to 12 audiences, each published once with its own JSON, in per-audience order, a refused one nak'ed alone", async () => {
    const users = Array.from({ length: 12 }, (_, k) => `user:r${k}`);
    const h = await harness({ "node-a": users });
    h.store.refuse.add("r-301");
    const ids = Array.from({ length: 600 }, (_, i) => `r-${i}`);
    // Every third one live: a live notification queued behind persisted ones of its audience waits for them.
    await Promise.all(ids.map((id, i) => h.publish(envelope(id, 4, `r${i % 12}`, i % 3 === 0 ? {} : { isPersisted: true }))));
    await waitFor(() => h.received("node-a").length === 599, 10_000, "599 deliveries");
    await waitFor(() => h.deadLetters.length === 1, 10_000, "the refused one dead-lettered");
    const received = h.received("node-a");
    // The node message of each notification is that notification's own JSON (the text written for its save, not another's).
    for (const n of received) expect(n.body).toEqual({ n: n.id });
    expect(new Set(received.map((n) => n.id)).size).toBe(599);
    for (let k = 0; k < 12; k++) {
      const seqs = received.filter((n) => n.routing.audienceValue === `r${k}`).map((n) => Number(n.id.slice(2)));
      expect(seqs, `audience r${k} in fetch order`).toEqual([...seqs].sort((a, b) => a - b));
    }
    expect(h.events.filter((e) => e.startsWith("nak:"))).toEqual(["nak:r-301", "nak:r-301"]);
    expect(h.store.inner.size).toBe(400 - 1);
    expect(h.store.batches.length).toBeLessThan(400);
  });

  it("keeps each audience's order while more audiences pass through than its audience map keeps (4 × maxInFlight): 1,000 persisted and live notifications to 200 audiences, saves answered out of order", async () => {
    const users = Array.from({ length: 200 }, (_, k) => `user:w${k}`);
    const h = await harness({ "node-a": users });
    let i = 0;
    const saveMany = h.store.saveMany.bind(h.store);
    h.store.saveMany = async (ns) => {
      await sleep(i++ % 3 === 0 ? 10 : 0);
      return saveMany(ns);
    };
    // Audiences in runs of three messages, so that each run has messages waiting behind a save while later audiences come and go.
    const audienceOf = (j: number) => Math.floor(j / 3) % 200;
    const ids = Array.from({ length: 1000 }, (_, j) => `w-${j}`);
    await Promise.all(ids.map((id, j) => h.publish(envelope(id, 4, `w${audienceOf(j)}`, j % 3 === 1 ? {} : { isPersisted: true }))));
    await waitFor(() => h.received("node-a").length === 1000, 10_000, "1,000 deliveries");
    const received = h.received("node-a");
    expect(new Set(received.map((n) => n.id)).size).toBe(1000);
    for (let k = 0; k < 200; k++) {
      const seqs = received.filter((n) => n.routing.audienceValue === `w${k}`).map((n) => Number(n.id.slice(2)));
      expect(seqs, `audience w${k} in fetch order`).toEqual([...seqs].sort((a, b) => a - b));
    }
  });

  it("a persisted message whose ack fails is handed back at once (its handler rejects), redelivered, and counted as routed only once acked", async () => {
    const h = await harness({ "node-a": ["user:k"] });
    h.failAck.add("k1");
    await h.publish(envelope("k1", 4, "k", { isPersisted: true }));
    await h.publish(envelope("k2", 4, "k", { isPersisted: true }));
    // Well within the 2 s ack wait: the rejected handler, not the ack-wait timer, brings k1 back.
    await waitFor(() => h.events.includes("ack:k1"), 1500, "k1 acked on its redelivery");
    await waitFor(() => h.events.includes("ack:k2"), 1500, "k2 acked");
    expect(h.events.filter((e) => e.endsWith(":k1"))).toEqual(["ack-failed:k1", "ack:k1"]);
    // At least once: published on each delivery, stored once.
    expect(h.received("node-a").filter((n) => n.id === "k1")).toHaveLength(2);
    expect(h.store.inner.size).toBe(2);
    expect(await counterValue(h.metrics, "tidings_router_notifications_routed_total")).toBe(2);
    expect(await counterValue(h.metrics, "tidings_router_jetstream_redeliveries_total")).toBe(1);
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
    expect(
      h
        .received("node-a")
        .slice(1)
        .map((n) => n.id),
    ).toEqual(Array.from({ length: 10 }, (_, k) => `s${k}`));
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

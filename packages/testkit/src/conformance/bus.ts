/**
 * The `Bus` contract (packages/contracts/src/interfaces.ts) as tests, run by every implementation:
 * `describeBusConformance("MemoryBus", …)` and `describeBusConformance("NatsBus", …)`.
 */
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { Bus, BusMessage } from "@tidings/contracts";
import { sleep, waitFor } from "../wait.js";

export interface BusCluster {
  /**
   * A bus attached to the same message space as every other one from this cluster (for NATS: a
   * new connection to the same server; in memory: the same bus).
   */
  connect(opts?: { onError?: (error: unknown, subject: string) => void }): Promise<Bus>;
  /** Closes everything `connect` returned. */
  dispose(): Promise<void>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();
const text = (m: BusMessage) => dec.decode(m.data);

export function describeBusConformance(name: string, makeCluster: () => Promise<BusCluster>): void {
  describe(`${name} - Bus conformance`, () => {
    let cluster: BusCluster;
    beforeEach(async () => {
      cluster = await makeCluster();
    });
    afterEach(async () => {
      await cluster.dispose();
    });

    it("delivers exact bytes in publish order, with null headers and reply when none were sent", async () => {
      const [a, b] = [await cluster.connect(), await cluster.connect()];
      const got: BusMessage[] = [];
      b.subscribe("conf.pubsub", (m) => void got.push(m));
      await b.flush();
      for (let i = 0; i < 500; i++) a.publish("conf.pubsub", enc.encode(`m${i}`));
      await a.flush();
      await waitFor(() => got.length === 500, 5000, "500 messages");
      expect(got.map(text)).toEqual(Array.from({ length: 500 }, (_, i) => `m${i}`));
      expect(got[0]!.subject).toBe("conf.pubsub");
      expect(got[0]!.headers).toBeNull();
      expect(got[0]!.reply).toBeNull();
    });

    it("matches '*' on one token and '>' on the trailing tokens", async () => {
      const bus = await cluster.connect();
      const star: string[] = [];
      const tail: string[] = [];
      bus.subscribe("conf.wild.*", (m) => void star.push(m.subject));
      bus.subscribe("conf.wild.>", (m) => void tail.push(m.subject));
      await bus.flush();
      for (const s of ["conf.wild.a", "conf.wild.a.b", "conf.other"]) bus.publish(s, enc.encode("x"));
      await waitFor(() => tail.length === 2, 5000, "two '>' matches");
      await sleep(50);
      expect(star).toEqual(["conf.wild.a"]);
      expect(tail).toEqual(["conf.wild.a", "conf.wild.a.b"]);
    });

    it("drops a publish nobody listens to without an error", async () => {
      const bus = await cluster.connect();
      expect(() => bus.publish("conf.nobody", enc.encode("x"))).not.toThrow();
      await bus.flush();
    });

    it("stops delivering after unsubscribe", async () => {
      const bus = await cluster.connect();
      const got: string[] = [];
      const sub = bus.subscribe("conf.unsub", (m) => void got.push(text(m)));
      await bus.flush();
      bus.publish("conf.unsub", enc.encode("1"));
      await waitFor(() => got.length === 1, 5000, "first message");
      sub.unsubscribe();
      sub.unsubscribe();
      await bus.flush();
      bus.publish("conf.unsub", enc.encode("2"));
      await bus.flush();
      await sleep(100);
      expect(got).toEqual(["1"]);
    });

    it("splits a queue group's work: each message to exactly one member, plain subscribers get all", async () => {
      const [a, b, c] = [await cluster.connect(), await cluster.connect(), await cluster.connect()];
      const w1: string[] = [];
      const w2: string[] = [];
      const all: string[] = [];
      a.subscribe("conf.work", (m) => void w1.push(text(m)), { queue: "workers" });
      b.subscribe("conf.work", (m) => void w2.push(text(m)), { queue: "workers" });
      c.subscribe("conf.work", (m) => void all.push(text(m)));
      await Promise.all([a.flush(), b.flush(), c.flush()]);
      for (let i = 0; i < 200; i++) c.publish("conf.work", enc.encode(String(i)));
      await waitFor(() => w1.length + w2.length === 200 && all.length === 200, 5000, "200 messages");
      await sleep(50);
      expect(w1.length + w2.length).toBe(200);
      expect(new Set([...w1, ...w2]).size).toBe(200);
      expect(w1.length).toBeGreaterThan(0);
      expect(w2.length).toBeGreaterThan(0);
      expect(all.length).toBe(200);
    });

    it("answers a request with the responder's data and headers", async () => {
      const [client, server] = [await cluster.connect(), await cluster.connect()];
      server.subscribe("conf.echo", (m) => {
        expect(m.reply).not.toBeNull();
        server.publish(m.reply!, enc.encode(`echo:${text(m)}:${m.headers?.["X-Req"] ?? "-"}`), { "X-Answer": "yes" });
      });
      await server.flush();
      const answer = await client.request("conf.echo", enc.encode("hi"), { timeoutMs: 2000, headers: { "X-Req": "r1" } });
      expect(text(answer)).toBe("echo:hi:r1");
      expect(answer.headers).toEqual({ "X-Answer": "yes" });
    });

    it("rejects a request nobody answers with TimeoutError after the timeout", async () => {
      const [client, server] = [await cluster.connect(), await cluster.connect()];
      server.subscribe("conf.silent", () => undefined);
      await server.flush();
      const started = Date.now();
      const err = await client.request("conf.silent", enc.encode("x"), { timeoutMs: 300 }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.name).toBe("TimeoutError");
      expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    });

    it("rejects a request without subscribers with NoRespondersError at once", async () => {
      const client = await cluster.connect();
      const started = Date.now();
      const err = await client.request("conf.nobody.home", enc.encode("x"), { timeoutMs: 5000 }).then(
        () => null,
        (e: unknown) => e as Error,
      );
      expect(err?.name).toBe("NoRespondersError");
      expect(Date.now() - started).toBeLessThan(2000);
    });

    it("round-trips headers with their names exactly as given", async () => {
      const [a, b] = [await cluster.connect(), await cluster.connect()];
      const got: BusMessage[] = [];
      b.subscribe("conf.headers", (m) => void got.push(m));
      await b.flush();
      const headers = {
        "Nats-Msg-Id": "id-1",
        traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "X-Mixed-case": "v a l u e",
        "Content-Type": "application/msgpack",
      };
      a.publish("conf.headers", enc.encode("h"), headers);
      await waitFor(() => got.length === 1, 5000, "message with headers");
      expect(got[0]!.headers).toEqual(headers);
    });

    it("one headers object published to several subjects, then another, reaches each with its own headers", async () => {
      const [a, b] = [await cluster.connect(), await cluster.connect()];
      const got: BusMessage[] = [];
      b.subscribe("conf.same.*", (m) => void got.push(m));
      await b.flush();
      const first = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
      const second = { traceparent: "00-11111111111111111111111111111111-2222222222222222-01", tracestate: "x=1" };
      for (const node of ["n1", "n2", "n3"]) a.publish(`conf.same.${node}`, enc.encode(node), first);
      a.publish("conf.same.n4", enc.encode("n4"), second);
      a.publish("conf.same.n5", enc.encode("n5"));
      await waitFor(() => got.length === 5, 5000, "five messages");
      expect(got.map((m) => [m.subject, m.headers])).toEqual([
        ["conf.same.n1", first],
        ["conf.same.n2", first],
        ["conf.same.n3", first],
        ["conf.same.n4", second],
        ["conf.same.n5", null],
      ]);
    });

    it("reports a throwing or rejecting handler and keeps the subscription", async () => {
      const failures: string[] = [];
      const bus = await cluster.connect({ onError: (e) => void failures.push((e as Error).message) });
      const got: string[] = [];
      bus.subscribe("conf.throws", (m) => {
        got.push(text(m));
        if (text(m) === "1") throw new Error("boom-sync");
      });
      bus.subscribe("conf.rejects", async (m) => {
        got.push(text(m));
        if (text(m) === "3") throw new Error("boom-async");
      });
      await bus.flush();
      for (const [s, v] of [
        ["conf.throws", "1"],
        ["conf.throws", "2"],
        ["conf.rejects", "3"],
        ["conf.rejects", "4"],
      ] as const) {
        bus.publish(s, enc.encode(v));
      }
      await waitFor(() => got.length === 4 && failures.length === 2, 5000, "four deliveries, two failures");
      expect(got.sort()).toEqual(["1", "2", "3", "4"]);
      expect(failures.sort()).toEqual(["boom-async", "boom-sync"]);
    });

    it("close lets running handlers finish (and publish), then refuses new work; it is idempotent", async () => {
      const [observer, bus] = [await cluster.connect(), await cluster.connect()];
      const observed: string[] = [];
      observer.subscribe("conf.close.done", (m) => void observed.push(text(m)));
      await observer.flush();
      let started = false;
      bus.subscribe("conf.close.work", async () => {
        started = true;
        await sleep(200);
        bus.publish("conf.close.done", enc.encode("finished"));
      });
      await bus.flush();
      observer.publish("conf.close.work", enc.encode("go"));
      await waitFor(() => started, 5000, "handler start");
      await Promise.all([bus.close(), bus.close()]);
      await waitFor(() => observed.length === 1, 5000, "publish from the draining handler");
      expect(observed).toEqual(["finished"]);
      expect(() => bus.publish("conf.close.done", enc.encode("late"))).toThrow();
      expect(() => bus.subscribe("conf.x", () => undefined)).toThrow();
      await expect(bus.request("conf.x", enc.encode("x"), { timeoutMs: 100 })).rejects.toThrow();
    });
  });
}

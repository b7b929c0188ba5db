import { Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { sleep, startNats, type NatsServer } from "@tidings/testkit";
import { JetStreamIngestQueue } from "../src/index.js";
import { fromNatsHeaders } from "../src/headers.js";
import { describeIngestConformance } from "@tidings/testkit/conformance";

let server: NatsServer;
beforeAll(async () => {
  server = await startNats({ jetstream: true });
});
afterAll(async () => {
  await server.stop();
});

let fixtures = 0;
describeIngestConformance("JetStreamIngestQueue", async (count, { ackWaitMs }) => {
  // A stream of its own per test keeps tests independent on one server.
  const n = ++fixtures;
  const connections: NatsConnection[] = [];
  const queues: JetStreamIngestQueue[] = [];
  for (let i = 0; i < count; i++) {
    const nc = await connect({ servers: server.url });
    connections.push(nc);
    queues.push(
      await JetStreamIngestQueue.create(nc, { stream: `CONF${n}`, subjects: [`conf${n}.>`], ackWaitMs, onError: () => undefined }),
    );
  }
  return {
    queues,
    subject: `conf${n}.notify`,
    dispose: async () => {
      await Promise.all(connections.map((c) => c.close()));
    },
  };
});

describe("JetStreamIngestQueue", () => {
  it("creates stream TIDINGS on tidings.notify.> with file storage and a 2-minute duplicate window, and the shared durable on consume", async () => {
    const nc = await connect({ servers: server.url });
    try {
      const q = await JetStreamIngestQueue.create(nc, { ackWaitMs: 4000, maxDeliver: 50 });
      const jsm = await jetstreamManager(nc);
      const info = await jsm.streams.info("TIDINGS");
      expect(info.config.subjects).toEqual(["tidings.notify.>"]);
      expect(info.config.storage).toBe("file");
      expect(info.config.duplicate_window).toBe(120_000_000_000);
      expect(info.config.retention).toBe("workqueue");
      const c = q.consume(async (m) => m.ack(), { maxInFlight: 1 });
      let ci = await jsm.consumers.info("TIDINGS", "tidings-router").catch(() => null);
      for (let i = 0; ci === null && i < 100; i++) {
        await sleep(50);
        ci = await jsm.consumers.info("TIDINGS", "tidings-router").catch(() => null);
      }
      if (ci === null) throw new Error("durable consumer tidings-router was not created");
      expect(ci.config.durable_name).toBe("tidings-router");
      expect(ci.config.ack_policy).toBe("explicit");
      expect(ci.config.ack_wait).toBe(4_000_000_000);
      expect(ci.config.max_deliver).toBe(50);
      await c.stop();
      expect(await q.pending()).toBe(0);
      // A replica configured differently brings the shared durable to its settings.
      const other = await JetStreamIngestQueue.create(nc, { ackWaitMs: 6000, maxDeliver: 50 });
      const c2 = other.consume(async (m) => m.ack(), { maxInFlight: 1 });
      for (let i = 0; ci.config.ack_wait !== 6_000_000_000 && i < 100; i++) {
        await sleep(50);
        ci = await jsm.consumers.info("TIDINGS", "tidings-router");
      }
      expect(ci.config.ack_wait).toBe(6_000_000_000);
      await c2.stop();
    } finally {
      await nc.close();
    }
  });

  it("brings an existing stream (discard old, no limits) to the service's limits, discard new and replicas at start; a producer leaves it as it is", async () => {
    const nc = await connect({ servers: server.url });
    try {
      const jsm = await jetstreamManager(nc);
      await jsm.streams.add({ name: "LIMITS", subjects: ["limits.>"], storage: "file", retention: "workqueue", discard: "old" });
      const producer = await JetStreamIngestQueue.create(nc, { stream: "LIMITS", subjects: ["limits.>"], maxBytes: 1000 });
      expect(await producer.streamSettings()).toEqual({ replicas: 1, maxBytes: -1, maxAgeMs: 0, duplicateWindowMs: 120_000 });
      const service = await JetStreamIngestQueue.create(nc, {
        stream: "LIMITS",
        subjects: ["limits.>"],
        applyStreamConfig: true,
        maxBytes: 4096,
        maxAgeMs: 3_600_000,
        duplicateWindowMs: 60_000,
      });
      expect(await service.streamSettings()).toEqual({ replicas: 1, maxBytes: 4096, maxAgeMs: 3_600_000, duplicateWindowMs: 60_000 });
      expect((await jsm.streams.info("LIMITS")).config.discard).toBe("new");
      // A full stream refuses the publish instead of dropping an accepted message.
      await service.publish("limits.a", new Uint8Array(3000), { msgId: "big-1" });
      await expect(service.publish("limits.a", new Uint8Array(3000), { msgId: "big-2" })).rejects.toThrow(/maximum bytes/i);
      expect((await jsm.streams.info("LIMITS")).state.messages).toBe(1);
    } finally {
      await nc.close();
    }
  });

  describe("publish answers (one inbox subscription, one timer)", () => {
    it("resolves 500 concurrent publishes each with its own PubAck: distinct sequences, headers and msg ids kept, duplicates reported", async () => {
      const nc = await connect({ servers: server.url });
      try {
        const q = await JetStreamIngestQueue.create(nc, { stream: "ACKS", subjects: ["acks.>"] });
        const acks = await Promise.all(
          Array.from({ length: 500 }, (_, i) =>
            q.publish("acks.a", new TextEncoder().encode(`m${i}`), { msgId: `id-${i}`, headers: { "X-I": String(i) } }),
          ),
        );
        expect(new Set(acks.map((a) => a.seq)).size).toBe(500);
        expect(acks.every((a) => !a.duplicate)).toBe(true);
        const again = await Promise.all([
          q.publish("acks.a", new Uint8Array(1), { msgId: "id-7" }),
          q.publish("acks.a", new Uint8Array(1), { msgId: "id-8" }),
        ]);
        expect(again).toEqual([
          { duplicate: true, seq: acks[7]!.seq },
          { duplicate: true, seq: acks[8]!.seq },
        ]);
        const jsm = await jetstreamManager(nc);
        const stored = await jsm.streams.getMessage("ACKS", { seq: acks[42]!.seq });
        expect(new TextDecoder().decode(stored!.data)).toBe("m42");
        expect(stored!.header.get("X-I")).toBe("42");
        expect(stored!.header.get("Nats-Msg-Id")).toBe("id-42");
      } finally {
        await nc.close();
      }
    });

    it("rejects a publish no stream captures with JetStreamNotEnabled (no responders), and one nobody answers with TimeoutError after timeoutMs; later publishes still resolve", async () => {
      const nc = await connect({ servers: server.url });
      try {
        const q = await JetStreamIngestQueue.create(nc, { stream: "SILENT", subjects: ["silent.>"], timeoutMs: 300 });
        await expect(q.publish("nowhere.a", new Uint8Array(1), { msgId: "n-1" })).rejects.toMatchObject({ name: "JetStreamNotEnabled" });
        // a core subscriber that never answers: the publish has a responder but no PubAck
        const mute = nc.subscribe("mute.a", { callback: () => undefined });
        const started = performance.now();
        const silent = q.publish("mute.a", new Uint8Array(1), { msgId: "m-1" });
        const later = q.publish("silent.a", new Uint8Array(1), { msgId: "s-1" });
        await expect(later).resolves.toMatchObject({ duplicate: false });
        await expect(silent).rejects.toMatchObject({ name: "TimeoutError" });
        const waited = performance.now() - started;
        expect(waited).toBeGreaterThanOrEqual(290);
        expect(waited).toBeLessThan(3000);
        await expect(q.publish("silent.a", new Uint8Array(1), { msgId: "s-2" })).resolves.toMatchObject({ duplicate: false });
        mute.unsubscribe();
      } finally {
        await nc.close();
      }
    });

    it("rejects a publish waiting for its PubAck when the connection closes, and a publish on a closed connection", async () => {
      const nc = await connect({ servers: server.url });
      const q = await JetStreamIngestQueue.create(nc, { stream: "CLOSING", subjects: ["closing.>"], timeoutMs: 30_000 });
      await q.publish("closing.a", new Uint8Array(1), { msgId: "c-0" });
      nc.subscribe("closing-mute.a", { callback: () => undefined });
      const pending = q.publish("closing-mute.a", new Uint8Array(1), { msgId: "c-1" });
      await nc.close();
      await expect(pending).rejects.toMatchObject({ name: "ClosedConnectionError" });
      await expect(q.publish("closing.a", new Uint8Array(1), { msgId: "c-2" })).rejects.toThrow();
    });
  });

  it("hands handlers the headers and delivery counts nats.js would, read without its header parse or delivery info", async () => {
    const nc = await connect({ servers: server.url });
    try {
      const q = await JetStreamIngestQueue.create(nc, { stream: "RAW", subjects: ["raw.>"], onError: () => undefined });
      const headers = { "Content-Type": "application/msgpack", traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
      await q.publish("raw.a", new TextEncoder().encode("x"), { msgId: "raw-1", headers });
      const seen: Array<{ count: number; headers: unknown; parsedBefore: boolean; infoCount: number; natsHeaders: unknown }> = [];
      let done: () => void = () => undefined;
      const finished = new Promise<void>((r) => (done = r));
      const c = q.consume(
        async (m) => {
          const count = m.deliveryCount;
          const got = m.headers;
          // What nats.js keeps: neither its header map nor its delivery info was made for the handler.
          const js = (
            m as unknown as { msg: { di?: unknown; info: { deliveryCount: number }; msg: { _headers?: unknown; headers: never } } }
          ).msg;
          // And the raw parts the fast reads use are where they are looked for (else they fall back to nats.js's parse).
          const raw = js.msg as unknown as { _rdata?: unknown; _msg?: { hdr?: unknown } };
          const parsedBefore =
            js.di !== undefined ||
            js.msg._headers !== undefined ||
            !(raw._rdata instanceof Uint8Array) ||
            typeof raw._msg?.hdr !== "number";
          seen.push({ count, headers: got, parsedBefore, infoCount: js.info.deliveryCount, natsHeaders: fromNatsHeaders(js.msg.headers) });
          if (count < 3) m.nak();
          else {
            await m.ack();
            done();
          }
        },
        { maxInFlight: 1 },
      );
      await finished;
      await c.stop();
      expect(seen.map((s) => s.count)).toEqual([1, 2, 3]);
      for (const s of seen) {
        expect(s.parsedBefore).toBe(false);
        expect(s.count).toBe(s.infoCount);
        expect(s.headers).toEqual(s.natsHeaders);
        expect(s.headers).toEqual({ ...headers, "Nats-Msg-Id": "raw-1" });
      }
    } finally {
      await nc.close();
    }
  });

  it("sends the acks of one read and the PING confirming them in one socket write (messages arriving one at a time, as at low rates)", async () => {
    const nc = await connect({ servers: server.url });
    const producer = await connect({ servers: server.url });
    const writes: string[] = [];
    const write = Reflect.get(Socket.prototype, "write") as (this: Socket, ...args: Parameters<Socket["write"]>) => boolean;
    const spy = vi.spyOn(Socket.prototype, "write").mockImplementation(function (this: Socket, ...args: Parameters<Socket["write"]>) {
      const chunk = args[0];
      if (chunk instanceof Uint8Array) writes.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString("latin1"));
      return write.apply(this, args);
    });
    try {
      const q = await JetStreamIngestQueue.create(nc, { stream: "ONEWRITE", subjects: ["onewrite.>"], onError: () => undefined });
      const producerQ = await JetStreamIngestQueue.create(producer, { stream: "ONEWRITE", subjects: ["onewrite.>"] });
      let acked = 0;
      const c = q.consume(
        async (m) => {
          // What the router does with a live notification: publish to the owning nodes, then ack.
          nc.publish("onewrite-out.node", m.data);
          await m.ack();
          acked++;
        },
        { maxInFlight: 16 },
      );
      const count = 20;
      for (let i = 0; i < count; i++) {
        await producerQ.publish("onewrite.x", new TextEncoder().encode(`m${i}`), { msgId: `one-write-${i}` });
        for (let t = 0; acked <= i && t < 200; t++) await sleep(5);
      }
      expect(acked).toBe(count);
      await c.stop();
      const ackWrites = writes.filter((w) => w.includes("PUB $JS.ACK.ONEWRITE."));
      expect(ackWrites).toHaveLength(count);
      // Each write carries the node publish, the ack and the confirmation's PING; no PING is written alone.
      for (const w of ackWrites) expect(w).toMatch(/^PUB onewrite-out\.node [\s\S]*PUB \$JS\.ACK\.ONEWRITE\.[\s\S]*PING\r\n$/);
    } finally {
      spy.mockRestore();
      await producer.close();
      await nc.close();
    }
  });
});

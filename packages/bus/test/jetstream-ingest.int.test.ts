import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect } from "@nats-io/transport-node";
import type { NatsConnection } from "@nats-io/nats-core";
import { jetstreamManager } from "@nats-io/jetstream";
import { sleep, startNats, type NatsServer } from "@tidings/testkit";
import { JetStreamIngestQueue } from "../src/index.js";
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
});

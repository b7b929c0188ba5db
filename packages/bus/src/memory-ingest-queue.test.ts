import { describe, expect, it } from "vitest";
import { MemoryIngestQueue } from "./memory-ingest-queue.js";
import { describeIngestConformance } from "@tidings/testkit/conformance";

describeIngestConformance("MemoryIngestQueue", async (count, { ackWaitMs }) => {
  const queue = new MemoryIngestQueue({ ackWaitMs, onError: () => undefined });
  return { queues: Array.from({ length: count }, () => queue), subject: "tidings.notify.test", dispose: async () => undefined };
});

describe("MemoryIngestQueue", () => {
  it("forgets a msgId once the duplicate window has passed", async () => {
    const q = new MemoryIngestQueue({ duplicateWindowMs: 50 });
    const first = await q.publish("s", Uint8Array.of(1), { msgId: "x" });
    await new Promise((r) => setTimeout(r, 80));
    const again = await q.publish("s", Uint8Array.of(1), { msgId: "x" });
    expect(again.duplicate).toBe(false);
    expect(again.seq).toBe(first.seq + 1);
  });

  it("gives a message up after maxDeliver deliveries", async () => {
    const q = new MemoryIngestQueue({ maxDeliver: 2 });
    await q.publish("s", Uint8Array.of(1), { msgId: "x" });
    const counts: number[] = [];
    const c = q.consume(
      async (m) => {
        counts.push(m.deliveryCount);
        m.nak();
      },
      { maxInFlight: 1 },
    );
    await new Promise((r) => setTimeout(r, 100));
    await c.stop();
    expect(counts).toEqual([1, 2]);
    expect(await q.pending()).toBe(0);
  });

  it("reports messages waiting for a consumer as pending", async () => {
    const q = new MemoryIngestQueue();
    await q.publish("s", Uint8Array.of(1), { msgId: "a" });
    await q.publish("s", Uint8Array.of(2), { msgId: "b" });
    expect(await q.pending()).toBe(2);
  });
});

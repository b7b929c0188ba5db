/**
 * The `IngestQueue` contract (packages/contracts/src/interfaces.ts) as tests, run by every
 * implementation: `describeIngestConformance("MemoryIngestQueue", …)` and the JetStream one.
 */
import { afterEach, describe, expect, it } from "vitest";
import type { IngestConsumer, IngestMessage, IngestQueue } from "@tidings/contracts";
import { sleep, waitFor } from "../wait.js";

export interface IngestFixture {
  /** `count` handles on one durable queue (for JetStream: separate connections), as competing consumers. */
  queues: IngestQueue[];
  /** A subject the queue captures. */
  subject: string;
  dispose(): Promise<void>;
}

export type MakeIngestFixture = (count: number, opts: { ackWaitMs: number }) => Promise<IngestFixture>;

const ACK_WAIT_MS = 1000;
const enc = new TextEncoder();
const dec = new TextDecoder();

export function describeIngestConformance(name: string, make: MakeIngestFixture): void {
  describe(`${name} - IngestQueue conformance`, () => {
    const cleanups: Array<() => Promise<void>> = [];
    afterEach(async () => {
      for (const c of cleanups.splice(0).reverse()) await c();
    });
    const setup = async (count = 1) => {
      const f = await make(count, { ackWaitMs: ACK_WAIT_MS });
      cleanups.push(() => f.dispose());
      return f;
    };
    const consume = (q: IngestQueue, handler: (m: IngestMessage) => Promise<void>, maxInFlight = 8): IngestConsumer => {
      const c = q.consume(handler, { maxInFlight });
      cleanups.push(() => c.stop());
      return c;
    };

    it("stores once per msgId within the window and reports the duplicate", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      const first = await q.publish(subject, enc.encode("a"), { msgId: "dup-1" });
      const again = await q.publish(subject, enc.encode("a-retry"), { msgId: "dup-1" });
      const other = await q.publish(subject, enc.encode("b"), { msgId: "dup-2" });
      expect(first.duplicate).toBe(false);
      expect(again).toEqual({ duplicate: true, seq: first.seq });
      expect(other.duplicate).toBe(false);
      expect(other.seq).toBeGreaterThan(first.seq);
      const got: string[] = [];
      consume(q, async (m) => {
        got.push(dec.decode(m.data));
        await m.ack();
      });
      await waitFor(() => got.length === 2, 10_000, "two messages");
      await sleep(300);
      expect(got).toEqual(["a", "b"]);
    });

    it("hands out subject, bytes and headers (with Nats-Msg-Id); an acked message is never redelivered", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      await q.publish(subject, Uint8Array.of(0x81, 0xa1, 0x61, 0x01), {
        msgId: "hdr-1",
        headers: { "Content-Type": "application/msgpack" },
      });
      const got: IngestMessage[] = [];
      consume(q, async (m) => {
        got.push(m);
        await m.ack();
      });
      await waitFor(() => got.length === 1, 10_000, "one message");
      await sleep(ACK_WAIT_MS * 1.5);
      expect(got).toHaveLength(1);
      const m = got[0]!;
      expect(m.subject).toBe(subject);
      expect([...m.data]).toEqual([0x81, 0xa1, 0x61, 0x01]);
      expect(m.headers?.["Nats-Msg-Id"]).toBe("hdr-1");
      expect(m.headers?.["Content-Type"]).toBe("application/msgpack");
      expect(m.deliveryCount).toBe(1);
    });

    it("redelivers after nak, counting deliveries, and honours the nak delay", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      await q.publish(subject, enc.encode("n"), { msgId: "nak-1" });
      const seen: Array<[number, number]> = [];
      consume(q, async (m) => {
        seen.push([m.deliveryCount, Date.now()]);
        if (m.deliveryCount === 1) m.nak();
        else if (m.deliveryCount === 2) m.nak(600);
        else await m.ack();
      });
      await waitFor(() => seen.length === 3, 10_000, "three deliveries");
      expect(seen.map(([n]) => n)).toEqual([1, 2, 3]);
      expect(seen[2]![1] - seen[1]![1]).toBeGreaterThanOrEqual(550);
      // nak without delay comes back well before the ack wait would have.
      expect(seen[1]![1] - seen[0]![1]).toBeLessThan(ACK_WAIT_MS);
    });

    it("redelivers a message whose ack never came, after the ack wait", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      await q.publish(subject, enc.encode("lost"), { msgId: "noack-1" });
      const seen: Array<[number, number]> = [];
      consume(q, async (m) => {
        seen.push([m.deliveryCount, Date.now()]);
        if (m.deliveryCount >= 2) await m.ack();
      });
      await waitFor(() => seen.length === 2, 10_000, "redelivery");
      expect(seen[1]![0]).toBe(2);
      expect(seen[1]![1] - seen[0]![1]).toBeGreaterThanOrEqual(ACK_WAIT_MS * 0.9);
    });

    it("redelivers when the handler rejects", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      await q.publish(subject, enc.encode("r"), { msgId: "reject-1" });
      const counts: number[] = [];
      consume(q, async (m) => {
        counts.push(m.deliveryCount);
        if (m.deliveryCount === 1) throw new Error("handler failed on purpose");
        await m.ack();
      });
      await waitFor(() => counts.length === 2, 10_000, "redelivery after rejection");
      expect(counts).toEqual([1, 2]);
    });

    it("working() restarts the ack-wait timer, so a slow handler is not raced by a redelivery", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      await q.publish(subject, enc.encode("slow"), { msgId: "slow-1" });
      const counts: number[] = [];
      let done = false;
      consume(q, async (m) => {
        counts.push(m.deliveryCount);
        for (let i = 0; i < 5; i++) {
          await sleep(ACK_WAIT_MS / 2);
          m.working();
        }
        await m.ack();
        done = true;
      });
      await waitFor(() => done, 15_000, "slow handler");
      await sleep(ACK_WAIT_MS * 1.2);
      expect(counts).toEqual([1]);
    });

    it("competing consumers: each message is acked by exactly one of them, and both take work", async () => {
      const { queues, subject } = await setup(2);
      const handledBy = new Map<string, number[]>();
      queues.forEach((q, i) =>
        consume(
          q,
          async (m) => {
            const id = dec.decode(m.data);
            handledBy.set(id, [...(handledBy.get(id) ?? []), i]);
            await sleep(5);
            await m.ack();
          },
          4,
        ),
      );
      await sleep(200);
      const total = 200;
      await Promise.all(Array.from({ length: total }, (_, i) => queues[i % 2]!.publish(subject, enc.encode(`c${i}`), { msgId: `c${i}` })));
      await waitFor(() => handledBy.size === total, 20_000, "all messages");
      await sleep(ACK_WAIT_MS * 1.2);
      expect([...handledBy.values()].every((who) => who.length === 1)).toBe(true);
      const byFirst = [0, 0];
      for (const who of handledBy.values()) byFirst[who[0]!]!++;
      expect(byFirst[0]).toBeGreaterThan(0);
      expect(byFirst[1]).toBeGreaterThan(0);
    });

    it("never runs more than maxInFlight handlers of one consumer at once", async () => {
      const { queues, subject } = await setup();
      const q = queues[0]!;
      for (let i = 0; i < 30; i++) await q.publish(subject, enc.encode(`p${i}`), { msgId: `p${i}` });
      let running = 0;
      let peak = 0;
      let acked = 0;
      consume(
        q,
        async (m) => {
          running++;
          peak = Math.max(peak, running);
          await sleep(20);
          running--;
          await m.ack();
          acked++;
        },
        3,
      );
      await waitFor(() => acked === 30, 10_000, "30 acks");
      expect(peak).toBe(3);
    });

    it("stop() waits for running handlers, then calls none; unacked work goes to another consumer", async () => {
      const { queues, subject } = await setup(2);
      const [a, b] = [queues[0]!, queues[1]!];
      let aStarted = 0;
      let aFinished = 0;
      const aConsumer = a.consume(
        async () => {
          aStarted++;
          await sleep(300);
          aFinished++;
          // Never acks: the message must come back to someone else.
        },
        { maxInFlight: 1 },
      );
      await a.publish(subject, enc.encode("handover"), { msgId: "handover-1" });
      await waitFor(() => aStarted === 1, 10_000, "first consumer starts");
      await aConsumer.stop();
      expect(aFinished).toBe(1);
      const startedAtStop = aStarted;
      const bGot: number[] = [];
      consume(b, async (m) => {
        bGot.push(m.deliveryCount);
        await m.ack();
      });
      await waitFor(() => bGot.length === 1, 10_000, "second consumer takes over");
      expect(bGot[0]).toBeGreaterThanOrEqual(2);
      expect(aStarted).toBe(startedAtStop);
    });
  });
}

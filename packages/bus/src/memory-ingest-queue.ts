import type { BusHeaders, IngestConsumer, IngestMessage, IngestPublishResult, IngestQueue } from "@tidings/contracts";
import type { IngestBacklog } from "./ingest-backlog.js";

export interface MemoryIngestQueueOptions {
  /** A second publish with the same `msgId` within this window is a duplicate (default 120 000 ms). */
  duplicateWindowMs?: number;
  /** A delivery not acked within this time is redelivered (default 30 000 ms). */
  ackWaitMs?: number;
  /** Deliveries per message before it is given up, as JetStream's `max_deliver`; -1: unlimited (default). */
  maxDeliver?: number;
  /** Receives handler failures (default: `console.error`). */
  onError?: (error: unknown) => void;
}

interface Stored {
  readonly seq: number;
  readonly subject: string;
  readonly data: Uint8Array;
  readonly headers: BusHeaders;
  deliveries: number;
  /** Bumped on every delivery; an ack-wait or nak timer of an older delivery is void. */
  attempt: number;
  timer: NodeJS.Timeout | null;
}

interface Worker {
  readonly handler: (msg: IngestMessage) => Promise<void>;
  readonly maxInFlight: number;
  readonly running: Set<Promise<void>>;
  stopped: boolean;
}

/**
 * The `IngestQueue` inside one process, with JetStream's semantics: publish de-duplicates by
 * `msgId` within the window; every `consume()` is a competing consumer of one shared durable
 * queue; a delivery that is not acked within the ack wait, nak'ed, or whose handler rejects is
 * redelivered, after the newer messages. Nothing survives the process: standalone mode only.
 */
export class MemoryIngestQueue implements IngestQueue, IngestBacklog {
  readonly #duplicateWindowMs: number;
  readonly #ackWaitMs: number;
  readonly #maxDeliver: number;
  readonly #onError: (error: unknown) => void;
  /** msgId → [seq, stored at (ms)], oldest first (Map keeps insertion order). */
  readonly #recent = new Map<string, [number, number]>();
  readonly #stored = new Map<number, Stored>();
  /** Sequences ready for delivery, in delivery order. */
  #ready: number[] = [];
  #readyHead = 0;
  readonly #workers: Worker[] = [];
  #nextWorker = 0;
  #seq = 0;
  #dispatching = false;

  constructor(opts: MemoryIngestQueueOptions = {}) {
    this.#duplicateWindowMs = opts.duplicateWindowMs ?? 120_000;
    this.#ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.#maxDeliver = opts.maxDeliver ?? -1;
    this.#onError = opts.onError ?? ((error) => console.error("MemoryIngestQueue: handler failed", error));
  }

  async publish(subject: string, data: Uint8Array, opts: { msgId: string; headers?: BusHeaders }): Promise<IngestPublishResult> {
    const now = Date.now();
    this.#expireRecent(now);
    const earlier = this.#recent.get(opts.msgId);
    if (earlier !== undefined) return { duplicate: true, seq: earlier[0] };
    const seq = ++this.#seq;
    this.#recent.set(opts.msgId, [seq, now]);
    this.#stored.set(seq, {
      seq,
      subject,
      data: data.slice(),
      headers: { ...opts.headers, "Nats-Msg-Id": opts.msgId },
      deliveries: 0,
      attempt: 0,
      timer: null,
    });
    this.#ready.push(seq);
    this.#dispatch();
    return { duplicate: false, seq };
  }

  consume(handler: (msg: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): IngestConsumer {
    const worker: Worker = { handler, maxInFlight: Math.max(1, opts.maxInFlight), running: new Set(), stopped: false };
    this.#workers.push(worker);
    this.#dispatch();
    return {
      stop: async () => {
        worker.stopped = true;
        const i = this.#workers.indexOf(worker);
        if (i !== -1) this.#workers.splice(i, 1);
        while (worker.running.size > 0) await Promise.allSettled([...worker.running]);
      },
    };
  }

  /** Messages stored and not yet handed to a handler (JetStream: the consumer's `num_pending`). */
  async pending(): Promise<number> {
    return this.#ready.length - this.#readyHead;
  }

  #expireRecent(now: number): void {
    for (const [id, [, at]] of this.#recent) {
      if (now - at < this.#duplicateWindowMs) break;
      this.#recent.delete(id);
    }
  }

  #dispatch(): void {
    // Re-entrancy guard: a handler that settles synchronously must not recurse into dispatch.
    if (this.#dispatching) return;
    this.#dispatching = true;
    try {
      while (this.#readyHead < this.#ready.length) {
        const worker = this.#pickWorker();
        if (worker === null) break;
        const seq = this.#ready[this.#readyHead++]!;
        const stored = this.#stored.get(seq);
        if (stored !== undefined) this.#deliver(worker, stored);
      }
      if (this.#readyHead > 1024 && this.#readyHead * 2 > this.#ready.length) {
        this.#ready = this.#ready.slice(this.#readyHead);
        this.#readyHead = 0;
      }
    } finally {
      this.#dispatching = false;
    }
  }

  /** The next worker, in turn, with a free slot; null when all are full or there are none. */
  #pickWorker(): Worker | null {
    const n = this.#workers.length;
    for (let i = 0; i < n; i++) {
      const w = this.#workers[(this.#nextWorker + i) % n]!;
      if (!w.stopped && w.running.size < w.maxInFlight) {
        this.#nextWorker = (this.#nextWorker + i + 1) % n;
        return w;
      }
    }
    return null;
  }

  #deliver(worker: Worker, stored: Stored): void {
    stored.deliveries++;
    const attempt = ++stored.attempt;
    let settled = false;
    const redeliverAfter = (delayMs: number) => {
      if (settled || stored.attempt !== attempt) return;
      settled = true;
      this.#schedule(stored, attempt, delayMs);
    };
    this.#armAckWait(stored, attempt);
    const msg: IngestMessage = {
      subject: stored.subject,
      data: stored.data,
      headers: stored.headers,
      deliveryCount: stored.deliveries,
      ack: async () => {
        if (settled) return;
        settled = true;
        if (stored.timer !== null) clearTimeout(stored.timer);
        this.#stored.delete(stored.seq);
      },
      nak: (delayMs = 0) => redeliverAfter(delayMs),
      working: () => {
        if (!settled && stored.attempt === attempt) this.#armAckWait(stored, attempt);
      },
    };
    const run = (async () => {
      try {
        await worker.handler(msg);
      } catch (error) {
        this.#onError(error);
        redeliverAfter(0);
      }
    })();
    worker.running.add(run);
    void run.finally(() => {
      worker.running.delete(run);
      this.#dispatch();
    });
  }

  #armAckWait(stored: Stored, attempt: number): void {
    if (stored.timer !== null) clearTimeout(stored.timer);
    stored.timer = setTimeout(() => {
      if (stored.attempt === attempt && this.#stored.has(stored.seq)) this.#requeue(stored);
    }, this.#ackWaitMs);
    stored.timer.unref();
  }

  #schedule(stored: Stored, attempt: number, delayMs: number): void {
    if (stored.timer !== null) clearTimeout(stored.timer);
    stored.timer = null;
    if (delayMs <= 0) {
      this.#requeue(stored);
      return;
    }
    stored.timer = setTimeout(() => {
      if (stored.attempt === attempt && this.#stored.has(stored.seq)) this.#requeue(stored);
    }, delayMs);
    stored.timer.unref();
  }

  #requeue(stored: Stored): void {
    stored.timer = null;
    if (this.#maxDeliver > 0 && stored.deliveries >= this.#maxDeliver) {
      // Given up, as JetStream does after max_deliver: never delivered again.
      this.#stored.delete(stored.seq);
      return;
    }
    this.#ready.push(stored.seq);
    this.#dispatch();
  }
}

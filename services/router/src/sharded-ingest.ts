import {
  INGEST_SUBJECT_HEADER,
  RouterRoster,
  headerValue,
  type IngestBacklog,
  type RegistryLogger,
  type ShardedAudienceRegistry,
} from "@tidings/bus";
import {
  subjects,
  type Bus,
  type BusHeaders,
  type IngestConsumer,
  type IngestMessage,
  type IngestPublishResult,
  type IngestQueue,
} from "@tidings/contracts";

export interface ShardedIngestOptions {
  bus: Bus;
  routerId: string;
  /** The router's registry; this coordinator decides which partitions it holds. */
  registry: ShardedAudienceRegistry;
  /** Stream `TIDINGS` (the producers' subjects), consumed by the partitioner. */
  source: IngestQueue & Partial<IngestBacklog>;
  /** Turns a producer message into its partition copy and acks it (`createPartitioner`). */
  partitioner: (msg: IngestMessage) => Promise<void>;
  /** The queue of one partition (its own durable consumer of stream `TIDINGS_PARTS`). */
  partitionQueue: (partition: number) => Promise<IngestQueue & Partial<IngestBacklog>>;
  /** Roster heartbeat interval; same as the registry's (default 5000 ms). */
  heartbeatIntervalMs?: number;
  /** How long to hear the other routers before the first map is computed (default 300 ms). */
  discoveryMs?: number;
  /** Longest wait for the nodes' snapshots after gaining partitions (default: three heartbeat intervals, when the silent ones are dropped). */
  loadTimeoutMs?: number;
  log: RegistryLogger & { error(obj: object, msg: string): void };
}

/** Pause before a failed handover step is tried again. */
const RETRY_MS = 500;

/**
 * Ingest and registry ownership of a router when the registry has more than one partition. It is
 * the router's `IngestQueue`: `consume` runs the partitioner on stream `TIDINGS` and, for each
 * partition this router owns, a consumer of that partition's durable on `TIDINGS_PARTS`, all with
 * the router's handler.
 *
 * Handover never routes by an unknown membership:
 * - A partition is consumed only after its keys are loaded: gaining one asks every gateway for a
 *   snapshot (sync broadcast, then the tracker fetches one per node) and waits for them all.
 * - A partition is consumed by one router at a time: a new owner starts only once no other live
 *   router says it serves the partition; the old owner stops its consumer (in-flight messages finish
 *   and are acked), announces that, and only then drops the keys. Meanwhile messages wait in the
 *   stream, in order.
 * - A router counts in the map only once ready (its partitions loaded); a dead router's partitions
 *   move after its missed heartbeats and are loaded by their new owners before they are consumed.
 */
export class ShardedIngest implements IngestQueue, IngestBacklog {
  readonly roster: RouterRoster;
  readonly #opts: ShardedIngestOptions;
  readonly #consumers = new Map<number, { queue: IngestQueue & Partial<IngestBacklog>; consumer: IngestConsumer }>();
  #handler: ((msg: IngestMessage) => Promise<void>) | null = null;
  #maxInFlight = 64;
  #partitioning: IngestConsumer | null = null;
  #running: Promise<void> = Promise.resolve();
  #again = false;
  #busy = false;
  #stopped = false;

  constructor(opts: ShardedIngestOptions) {
    this.#opts = opts;
    this.roster = new RouterRoster({
      bus: opts.bus,
      partitions: opts.registry.partitions,
      self: { routerId: opts.routerId },
      ...(opts.heartbeatIntervalMs === undefined ? {} : { heartbeatIntervalMs: opts.heartbeatIntervalMs }),
      onChange: () => this.#schedule(),
      log: opts.log,
    });
  }

  /** Joins the roster (not ready) and takes the partitions this router will own as the registry's, before the tracker syncs. */
  async prepare(): Promise<void> {
    await this.roster.start();
    await new Promise((r) => setTimeout(r, this.#opts.discoveryMs ?? 300));
    this.#opts.registry.own(this.roster.map(this.#opts.routerId).ownedBy(this.#opts.routerId));
  }

  /** Partitions consumed here now, ascending. */
  serving(): number[] {
    return [...this.#consumers.keys()].sort((a, b) => a - b);
  }

  publish(subject: string, data: Uint8Array, opts: { msgId: string; headers?: BusHeaders }): Promise<IngestPublishResult> {
    return this.#opts.source.publish(subject, data, opts);
  }

  /** Messages waiting in `TIDINGS` plus those waiting in the partitions consumed here. */
  async pending(): Promise<number> {
    const queues = [this.#opts.source, ...[...this.#consumers.values()].map((c) => c.queue)];
    const counts = await Promise.all(queues.map((q) => (q.pending === undefined ? Promise.resolve(0) : q.pending())));
    return counts.reduce((a, b) => a + b, 0);
  }

  consume(handler: (msg: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): IngestConsumer {
    this.#handler = (msg) => handler(withProducerSubject(msg));
    this.#maxInFlight = opts.maxInFlight;
    this.#partitioning = this.#opts.source.consume(this.#opts.partitioner, opts);
    this.roster.setState(true, []);
    this.#schedule();
    let stopped: Promise<void> | null = null;
    return {
      stop: () => {
        stopped ??= (async () => {
          this.#stopped = true;
          await this.#running;
          await this.#partitioning?.stop();
          await Promise.all([...this.#consumers.values()].map((c) => c.consumer.stop()));
          this.#consumers.clear();
          await this.roster.stop();
        })();
        return stopped;
      },
    };
  }

  /** Runs one reconciliation at a time; a change during one runs another after it. */
  #schedule(): void {
    if (this.#handler === null || this.#stopped) return;
    if (this.#busy) {
      this.#again = true;
      return;
    }
    this.#busy = true;
    this.#running = (async () => {
      do {
        this.#again = false;
        try {
          await this.#reconcile();
        } catch (error) {
          // JetStream may be electing a leader (a server lost): try again shortly, not only at the next roster change.
          this.#opts.log.error({ err: error }, "partition handover step failed; retrying");
          setTimeout(() => this.#schedule(), RETRY_MS).unref();
        }
      } while (this.#again && !this.#stopped);
      this.#busy = false;
    })();
  }

  async #reconcile(): Promise<void> {
    const { registry, routerId, log } = this.#opts;
    const want = new Set(this.roster.map().ownedBy(routerId));
    // Release first: the new owners wait for it.
    const released: number[] = [];
    for (const [p, c] of this.#consumers) {
      if (want.has(p)) continue;
      await c.consumer.stop();
      this.#consumers.delete(p);
      released.push(p);
    }
    if (released.length > 0) {
      this.roster.setState(true, this.serving());
      log.info({ partitions: released }, "released partitions");
    }
    const gained = registry.own(new Set([...want, ...this.#consumers.keys()]));
    if (gained.length > 0) await this.#load(gained);
    if (this.#stopped) return;
    const started: number[] = [];
    for (const p of want) {
      if (this.#consumers.has(p) || this.roster.servedElsewhere(p).length > 0) continue;
      const queue = await this.#opts.partitionQueue(p);
      this.#consumers.set(p, { queue, consumer: queue.consume(this.#handler!, { maxInFlight: this.#maxInFlight }) });
      started.push(p);
    }
    if (started.length > 0) {
      this.roster.setState(true, this.serving());
      log.info({ partitions: started }, "consuming partitions");
    }
  }

  /** Asks every gateway for a snapshot and waits until each has been applied (or the load timeout). */
  async #load(gained: number[]): Promise<void> {
    const { bus, registry, log } = this.#opts;
    const started = Date.now();
    const timeoutMs = this.#opts.loadTimeoutMs ?? (this.#opts.heartbeatIntervalMs ?? 5000) * 3;
    bus.publish(subjects.registrySync, new Uint8Array(0));
    while (registry.missing().length > 0 && Date.now() - started < timeoutMs && !this.#stopped) {
      await new Promise((r) => setTimeout(r, 20));
    }
    const missing = registry.missing();
    if (missing.length > 0)
      log.warn({ partitions: gained, missing: missing.length }, "partitions taken without a snapshot from some silent nodes");
    else log.info({ partitions: gained, ms: Date.now() - started }, "partitions loaded");
  }
}

/** The handler sees the producer's subject, as without partitions. */
function withProducerSubject(msg: IngestMessage): IngestMessage {
  const original = headerValue(msg.headers, INGEST_SUBJECT_HEADER);
  if (original === undefined) return msg;
  // Delegates rather than spreads: a queue's message may keep its fields and methods on a prototype.
  return {
    subject: original,
    data: msg.data,
    headers: msg.headers,
    deliveryCount: msg.deliveryCount,
    ack: () => msg.ack(),
    nak: (delayMs) => msg.nak(delayMs),
    working: () => msg.working(),
  };
}

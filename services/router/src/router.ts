import { RegistryTracker, decodeIngestBody, headerValue, type IngestBacklog } from "@tidings/bus";
import {
  validateEnvelope,
  type AudienceRegistry,
  type Bus,
  type BusHeaders,
  type IngestConsumer,
  type IngestMessage,
  type IngestQueue,
  type Notification,
  type NotificationStore,
} from "@tidings/contracts";
import { endSpan, inSpan, startProcessSpan, traceHeaders as spanHeaders, type Logger } from "@tidings/observability";
import { createDeadLetter, describeProblems } from "./dead-letter.js";
import { DeadLetterReason, PROCESS_TIMING_SAMPLE_EVERY, type RouterMetrics } from "./metrics.js";
import { createRoute } from "./route.js";
import { createStoreSaver, type Saved, type SaveRequest } from "./store-saver.js";

type ProcessSpan = ReturnType<typeof startProcessSpan>;

export interface RouterOptions {
  /** Lifetime of a persisted notification without `persistedTTL`, in seconds (TIDINGS_DEFAULT_TTL_SECONDS). */
  defaultTtlSeconds: number;
  /** Largest envelope as received, in bytes (TIDINGS_MAX_NOTIFICATION_BYTES). */
  maxNotificationBytes: number;
  /** Ingest messages this router handles at once (default 64). */
  maxInFlight?: number;
  /** First pause between store probes while the store is down (default 250 ms). */
  storeProbeMs?: number;
  /** Longest pause between store probes; doubles per failed probe up to this (default 2000 ms). */
  storeProbeMaxMs?: number;
  /**
   * Bounds of one batch of store saves (default 128 notifications, 256 KiB as received). The saves
   * asked for in one event-loop turn go to the store as one request.
   */
  saveBatch?: { maxCount?: number; maxBytes?: number };
  /** While a message is handled, its ack-wait timer is restarted this often; keep it well below the queue's ack wait (default 3000 ms). */
  holdHeartbeatMs?: number;
  /**
   * Deliveries of a notification the store refuses for good before it is dead-lettered with
   * reason `store_refused` (default 3). Earlier deliveries are nak'ed after `storeRefusedRetryMs`.
   */
  storeRefusedMaxDeliveries?: number;
  /** Redelivery delay of a refused notification before its last delivery (default 1000 ms). */
  storeRefusedRetryMs?: number;
  /** Registry tracker timing; the heartbeat interval must match the gateways' (default 5000 ms). */
  registry?: { heartbeatIntervalMs?: number; syncWindowMs?: number; snapshotTimeoutMs?: number };
}

export interface RouterDeps {
  bus: Bus;
  /** The ingest stream; its backlog feeds `tidings_router_jetstream_pending` when it can tell. */
  queue: IngestQueue & Partial<IngestBacklog>;
  /** With `ping`, the store is probed with it while down; without, with a save of a held notification. */
  store: NotificationStore & { ping?: () => Promise<void> };
  registry: AudienceRegistry;
  log: Logger;
  metrics: RouterMetrics;
  options: RouterOptions;
}

export interface Router {
  /** Syncs the registry with every gateway node, then starts consuming. Resolves when routing. */
  start(): Promise<void>;
  /** Stops fetching, lets messages in flight finish (acked or nak'ed), stops the registry tracker. */
  stop(): Promise<void>;
  /** True between a completed `start()` and `stop()` (for `/readyz`). */
  readonly ready: boolean;
}

/**
 * The router (docs/architecture.md §2, step 2). Per ingest message: decode (JSON, or MessagePack
 * by `Content-Type`) → validate → an invalid one is republished raw to `tidings.deadletter` with
 * `Tidings-Error`, counted and acked → a persisted one is saved → published once per owning node →
 * acked. Acking last makes delivery into the cluster at-least-once: a crash before the ack
 * redelivers, the store save is idempotent on (audience, id) and gateways drop repeats within the
 * dedupe window. Messages to one audience are routed in fetch order. The saves of one event-loop
 * turn go to the store as one batch; each message is acked only after its own save succeeded.
 *
 * Store failures come in two kinds. Transient (store down, timeout): the message is held, not
 * nak'ed: its ack-wait timer is kept running with `working()`, its slot stays taken (so the router
 * stops pulling once every slot holds one), and every persisted message fetched meanwhile is held
 * before it reaches the store. One probe at a time checks the store (250 ms doubling to 2 s); the
 * first success releases every held message at once, in per-audience order, so a backlog flows
 * again within about 2 s of the store's return. Held messages are retried forever. Permanent
 * (the store refuses the row or the arguments): nak'ed a few times, then dead-lettered with reason
 * `store_refused` and acked, never retried forever and never delivered.
 */
export function createRouter(deps: RouterDeps): Router {
  const { bus, queue, store, registry, log, metrics, options } = deps;
  const maxInFlight = options.maxInFlight ?? 64;
  const heartbeatMs = options.holdHeartbeatMs ?? 3000;
  const refusedMaxDeliveries = Math.max(1, options.storeRefusedMaxDeliveries ?? 3);
  const refusedRetryMs = options.storeRefusedRetryMs ?? 1000;
  const route = createRoute({ bus, registry, onPublished: (count) => metrics.countNodePublishes(count) });
  let tracker: RegistryTracker | null = null;
  let consumer: IngestConsumer | null = null;
  let ready = false;
  let stopping: Promise<void> | null = null;
  const deadLetter = createDeadLetter({ bus, log, metrics });

  /**
   * The waiting messages of each audience in fetch order, in its lane. Only publishing is ordered
   * this way (that is what orders delivery); saves start at fetch, so one audience's queued messages
   * share a batch, and acks run after the publish, outside the order, so one busy audience is not
   * capped at one ack round trip per message.
   *
   * A lane stays in the map once empty, and a waiting message points at its lane: one map read per
   * message. Deleting and re-adding keys made V8 rebuild the map's table every few dozen messages, and a
   * map in the old generation gets its new table there, where only a full collection of the whole heap
   * (the registry's keys) frees it. Past `maxAudienceKeys` lanes the map is replaced by a new (young)
   * one holding the lanes that have waiting messages.
   */
  let lanes = new Map<string, Lane>();
  const maxAudienceKeys = 4 * maxInFlight;
  /** Jobs free to take on a message. */
  const pool: Job[] = [];
  /** Every waiting message (at most `maxInFlight`). */
  const eachWaiting = (visit: (job: Job) => void): void => {
    for (const lane of lanes.values()) for (let job = lane.head; job !== null; job = job.next) visit(job);
  };

  /**
   * Each waiting message's ack-wait timer is restarted every `heartbeatMs` by one shared ticker (a
   * timer per message cost more than routing it), so only a dead router's messages are redelivered; a
   * message may get its first `working()` sooner than `heartbeatMs` after it started, never later.
   */
  let ticker: NodeJS.Timeout | null = null;
  const heldStats = () => {
    let count = 0;
    let oldest: number | null = null;
    eachWaiting((job) => {
      if (!job.n.metadata.isPersisted) return;
      count++;
      if (oldest === null || job.since < oldest) oldest = job.since;
    });
    return { count, oldestSince: oldest };
  };
  const saver = createStoreSaver({
    store,
    log,
    metrics,
    heldCount: () => heldStats().count,
    options: { probeMinMs: options.storeProbeMs ?? 250, probeMaxMs: options.storeProbeMaxMs ?? 2000, batch: options.saveBatch },
  });

  /** The audience's lane, made (and the map renewed when full) if it has none. */
  const laneOf = (key: string): Lane => {
    let lane = lanes.get(key);
    if (lane === undefined) {
      if (lanes.size >= maxAudienceKeys) lanes = waitingOnly(lanes);
      lane = new Lane();
      lanes.set(key, lane);
    }
    return lane;
  };

  /** Finishes the lane's messages from its head for as long as they may go: the head's save is answered (or it is live). */
  const drain = (lane: Lane): void => {
    let head = lane.head;
    while (head !== null && head.saved !== null) {
      // Read before `finish` hands the job back to the pool.
      const next = head.next;
      finish(head);
      head = next;
    }
    lane.head = head;
    if (head === null) lane.tail = null;
  };

  const countRouted = (): void => {
    metrics.countRouted();
  };

  /** Routes (saved or live), or naks / dead-letters what was not saved; then ends its span and settles its handler. Never throws. */
  const finish = (job: Job): void => {
    const { msg, n, span, saved, trace } = job;
    const resolve = job.resolve!;
    const reject = job.reject!;
    if (pool.length < maxInFlight) {
      job.release();
      pool.push(job);
    }
    try {
      if (saved!.kind === "stopped") {
        // Handed back at once so another replica takes it.
        msg.nak();
        resolve();
      } else if (saved!.kind === "refused") {
        const detail = saved!.error instanceof Error ? saved!.error.message : String(saved!.error);
        if (msg.deliveryCount < refusedMaxDeliveries) {
          log.warn(
            { id: n.id, audienceId: n.routing.audienceId, deliveryCount: msg.deliveryCount, detail },
            "the store refused a persisted notification",
          );
          msg.nak(refusedRetryMs);
          resolve();
        } else {
          resolve(deadLetter(msg, DeadLetterReason.StoreRefused, detail));
        }
      } else {
        if (span.isRecording()) inSpan(span, () => route(n, trace));
        else route(n, trace);
        // Settled by the ack's reactions, not by adopting its promise (two microtasks and a pair of functions fewer per message).
        msg.ack().then(countRouted).then(resolve, reject);
      }
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      reject(err);
    }
  };

  /** Routes a live notification synchronously, in its own `process` span. */
  const routeNow = (msg: IngestMessage, n: Notification): void => {
    // The router's `process` span continues the producer's trace; the gateways' spans continue this one.
    // Active while it runs, so its log lines carry the trace.
    const span = startProcessSpan(msg.subject, msg.headers, n.id);
    if (!span.isRecording()) {
      // Nothing to record, and routing writes no log line: no context to make active.
      route(n, traceHeaders(msg.headers));
      span.end();
      return;
    }
    try {
      inSpan(span, () => route(n, spanHeaders(span)));
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };

  /** The options of every message's validation, set per message: it is synchronous and keeps none of them (no Date and no object per message). */
  const validateOptions = {
    now: new Date(),
    defaultTtlSeconds: options.defaultTtlSeconds,
    maxNotificationBytes: options.maxNotificationBytes,
    byteLength: 0,
  };

  /**
   * Handles one message up to where it waits, synchronously: decode, validate, and then a live
   * notification whose audience has nothing waiting is routed and acked at once; any other is queued
   * behind its audience's waiting messages, and a persisted one's save is asked for. The returned
   * promise settles once it was acked (or nak'ed, or dead-lettered).
   */
  const begin = (msg: IngestMessage): Promise<void> => {
    if (msg.deliveryCount > 1) metrics.redeliveries.inc();
    const decoded = decodeIngestBody(msg.data, msg.headers);
    if (!decoded.ok) {
      const reason = decoded.format === "msgpack" ? DeadLetterReason.MalformedMsgpack : DeadLetterReason.MalformedJson;
      return deadLetter(msg, reason, decoded.error);
    }
    const nowMs = Date.now();
    validateOptions.now.setTime(nowMs);
    validateOptions.byteLength = msg.data.length;
    const result = validateEnvelope(decoded.value, validateOptions);
    if (!result.ok) return deadLetter(msg, DeadLetterReason.InvalidEnvelope, describeProblems(result.problems));
    const n = result.notification;
    const key = n.routing.audienceId;
    const persisted = n.metadata.isPersisted;
    const lane = lanes.get(key);
    if (!persisted && (lane === undefined || lane.head === null)) {
      routeNow(msg, n);
      return msg.ack().then(countRouted);
    }
    const span = startProcessSpan(msg.subject, msg.headers, n.id);
    const recording = span.isRecording();
    const job = pool.pop() ?? new Job(drain);
    const done = job.init(msg, n, span, recording ? spanHeaders(span) : traceHeaders(msg.headers), persisted ? null : LIVE, nowMs);
    (lane ?? laneOf(key)).append(job);
    if (persisted) {
      if (recording) inSpan(span, () => saver.save(job));
      else saver.save(job);
    }
    return done;
  };

  /** Messages handled so far; picks the 1 in PROCESS_TIMING_SAMPLE_EVERY whose duration is observed. */
  let handled = 0;
  const handle = (msg: IngestMessage): Promise<void> => {
    const timed = (handled++ & (PROCESS_TIMING_SAMPLE_EVERY - 1)) === 0;
    const started = timed ? performance.now() : 0;
    let done: Promise<void>;
    try {
      done = begin(msg);
    } catch (err) {
      // A publish that threw while routing at once: the consumer naks the message, as for a rejection.
      done = Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
    if (timed) {
      const observe = () => metrics.processDuration.observe((performance.now() - started) / 1000);
      void done.then(observe, observe);
    }
    return done;
  };

  return {
    get ready() {
      return ready;
    },
    async start() {
      if (tracker !== null) return;
      const pending = queue.pending === undefined ? undefined : () => queue.pending!();
      metrics.observe(pending === undefined ? { registry, held: heldStats } : { registry, pending, held: heldStats });
      tracker = new RegistryTracker({ bus, registry, log, ...options.registry });
      await tracker.start();
      if (stopping !== null) return;
      ticker = setInterval(() => {
        eachWaiting((job) => job.msg.working());
      }, heartbeatMs);
      ticker.unref();
      consumer = queue.consume(handle, { maxInFlight });
      ready = true;
      log.info({ nodes: registry.liveNodes().size, maxInFlight }, "router consuming");
    },
    stop() {
      stopping ??= (async () => {
        ready = false;
        // Held messages are nak'ed at once, so the consumer's stop does not wait for the store.
        saver.close();
        await consumer?.stop();
        if (ticker !== null) clearInterval(ticker);
        await tracker?.stop();
        log.info("router stopped");
      })();
      return stopping;
    },
  };
}

/** `traceparent` / `tracestate` of the ingest message, to link the gateways' spans to the producer's. */
function traceHeaders(headers: BusHeaders | null): BusHeaders | undefined {
  const traceparent = headerValue(headers, "traceparent");
  if (traceparent === undefined) return undefined;
  const tracestate = headerValue(headers, "tracestate");
  return tracestate === undefined ? { traceparent } : { traceparent, tracestate };
}

/** The lanes that have waiting messages, in a new map. */
function waitingOnly(lanes: Map<string, Lane>): Map<string, Lane> {
  const fresh = new Map<string, Lane>();
  for (const [key, lane] of lanes) if (lane.head !== null) fresh.set(key, lane);
  return fresh;
}

/** One audience's waiting messages in fetch order, linked from `head` to `tail`. */
class Lane {
  head: Job | null = null;
  tail: Job | null = null;

  append(job: Job): void {
    job.lane = this;
    if (this.tail === null) this.head = job;
    else this.tail.next = job;
    this.tail = job;
  }
}

/** A live notification waiting behind its audience: it may go as soon as it is at the head. */
const LIVE: Saved = { kind: "saved" };

/**
 * A message that waits: for its save's outcome (`saved` null until then), or behind its audience's
 * earlier messages. Jobs are reused (`init` … `release`): the maps and sets that hold them for a moment
 * then keep pointing at long-lived objects, so a dead table promoted to the old generation does not
 * keep the young objects of every message alive through the young-generation collections (that cost
 * more CPU than routing them).
 */
class Job implements SaveRequest {
  msg!: IngestMessage;
  n!: Notification;
  bytes = 0;
  span!: ProcessSpan;
  trace: BusHeaders | undefined = undefined;
  saved: Saved | null = null;
  /** When a persisted one started waiting (epoch ms), for the held-notification gauges. */
  since = 0;
  /** Its audience's lane, and the next waiting message there. */
  lane: Lane | null = null;
  next: Job | null = null;
  resolve: ((value: void | PromiseLike<void>) => void) | null = null;
  reject: ((err: unknown) => void) | null = null;

  constructor(readonly ready: (lane: Lane) => void) {}

  /** Takes on `msg`; the promise settles once it was acked, nak'ed or dead-lettered. */
  init(
    msg: IngestMessage,
    n: Notification,
    span: ProcessSpan,
    trace: BusHeaders | undefined,
    saved: Saved | null,
    nowMs: number,
  ): Promise<void> {
    this.msg = msg;
    this.n = n;
    this.bytes = msg.data.length;
    this.span = span;
    this.trace = trace;
    this.saved = saved;
    this.since = saved === null ? nowMs : 0;
    return new Promise<void>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  /** Forgets the message, so that the job can take on another. */
  release(): void {
    this.msg = undefined as unknown as IngestMessage;
    this.n = undefined as unknown as Notification;
    this.span = undefined as unknown as ProcessSpan;
    this.trace = undefined;
    this.saved = null;
    this.lane = null;
    this.next = null;
    this.resolve = null;
    this.reject = null;
  }

  settle(saved: Saved): void {
    this.saved = saved;
    this.ready(this.lane!);
  }
}

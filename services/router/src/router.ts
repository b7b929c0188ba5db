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
import { KeyedSerial } from "./keyed-serial.js";
import { DeadLetterReason, PROCESS_TIMING_SAMPLE_EVERY, type RouterMetrics } from "./metrics.js";
import { createRoute } from "./route.js";
import { createStoreSaver, type Saved } from "./store-saver.js";

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
  const route = createRoute({ bus, registry, onPublished: (count) => metrics.nodePublishes.inc(count) });
  const serial = new KeyedSerial();
  let tracker: RegistryTracker | null = null;
  let consumer: IngestConsumer | null = null;
  let ready = false;
  let stopping: Promise<void> | null = null;
  const deadLetter = createDeadLetter({ bus, log, metrics });
  const saver = createStoreSaver({
    store,
    log,
    metrics,
    options: { probeMinMs: options.storeProbeMs ?? 250, probeMaxMs: options.storeProbeMaxMs ?? 2000, batch: options.saveBatch },
  });
  const held = saver.held;

  /** Messages being handled; each one's ack-wait timer is restarted every `heartbeatMs` by one shared ticker. */
  const working = new Set<IngestMessage>();
  let ticker: NodeJS.Timeout | null = null;

  /**
   * Runs `task` with the message's ack-wait timer restarted every `heartbeatMs`, whether it waits
   * for the store or behind an earlier message of its audience, so only a dead router's messages
   * are redelivered. A persisted message counts as held meanwhile. One ticker serves every message
   * (a timer per message cost more than routing it); a message may get its first `working()` sooner
   * than `heartbeatMs` after it started, never later.
   */
  const keepAlive = async <T>(msg: IngestMessage, persisted: boolean, task: () => Promise<T>): Promise<T> => {
    const entry = persisted ? { since: Date.now() } : null;
    if (entry !== null) held.add(entry);
    working.add(msg);
    try {
      return await task();
    } finally {
      working.delete(msg);
      if (entry !== null) held.delete(entry);
    }
  };

  /**
   * Persists (when asked) and routes in the message's `process` span; false when it was not routed
   * (nak'ed or dead-lettered instead). The save starts at once, so the queued messages of one
   * audience share a batch; only the publish waits for the audience's earlier messages.
   */
  const deliver = (msg: IngestMessage, n: Notification): Promise<boolean> => {
    // The router's `process` span continues the producer's trace; the gateways' spans continue this one.
    // Active while it runs, so its log lines carry the trace.
    const span = startProcessSpan(msg.subject, msg.headers, n.id);
    const outgoingTrace = span.isRecording() ? spanHeaders(span) : traceHeaders(msg.headers);
    const saving = n.metadata.isPersisted ? inSpan(span, () => saver.save(n, msg.data.length)) : null;
    return serial.run(n.routing.audienceId, () => inSpan(span, () => afterSave(msg, n, saving, span, outgoingTrace)));
  };

  /** Routes a live notification synchronously, in its own `process` span (as `deliver`). */
  const routeNow = (msg: IngestMessage, n: Notification): void => {
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

  /** Once its save (if any) is answered: routes, or naks / dead-letters what was not saved; then ends the span. */
  const afterSave = async (
    msg: IngestMessage,
    n: Notification,
    saving: Promise<Saved> | null,
    span: ProcessSpan,
    outgoingTrace: BusHeaders | undefined,
  ): Promise<boolean> => {
    try {
      const saved = saving === null ? null : await saving;
      let routed = false;
      if (saved?.kind === "stopped") {
        // Handed back at once so another replica takes it.
        msg.nak();
      } else if (saved?.kind === "refused") {
        const detail = saved.error instanceof Error ? saved.error.message : String(saved.error);
        if (msg.deliveryCount < refusedMaxDeliveries) {
          log.warn(
            { id: n.id, audienceId: n.routing.audienceId, deliveryCount: msg.deliveryCount, detail },
            "the store refused a persisted notification",
          );
          msg.nak(refusedRetryMs);
        } else {
          await deadLetter(msg, DeadLetterReason.StoreRefused, detail);
        }
      } else {
        route(n, outgoingTrace);
        routed = true;
      }
      endSpan(span);
      return routed;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };

  /** Messages handled so far; picks the 1 in PROCESS_TIMING_SAMPLE_EVERY whose duration is observed. */
  let handled = 0;
  const handle = async (msg: IngestMessage): Promise<void> => {
    const timed = (handled++ & (PROCESS_TIMING_SAMPLE_EVERY - 1)) === 0;
    const started = timed ? performance.now() : 0;
    try {
      if (msg.deliveryCount > 1) metrics.redeliveries.inc();
      const decoded = decodeIngestBody(msg.data, msg.headers);
      if (!decoded.ok) {
        const reason = decoded.format === "msgpack" ? DeadLetterReason.MalformedMsgpack : DeadLetterReason.MalformedJson;
        await deadLetter(msg, reason, decoded.error);
        return;
      }
      const result = validateEnvelope(decoded.value, {
        now: new Date(),
        defaultTtlSeconds: options.defaultTtlSeconds,
        maxNotificationBytes: options.maxNotificationBytes,
        byteLength: msg.data.length,
      });
      if (!result.ok) {
        await deadLetter(msg, DeadLetterReason.InvalidEnvelope, describeProblems(result.problems));
        return;
      }
      const n = result.notification;
      // Only publishing is serialised per audience (that is what orders delivery); the ack, a NATS
      // round trip, runs outside it, so one busy audience is not capped at one ack round trip per message.
      // A live notification whose audience has nothing queued is routed at once, as serial.run would
      // start it, without the promises of the queued path.
      if (!n.metadata.isPersisted && !serial.busy(n.routing.audienceId)) {
        routeNow(msg, n);
        await msg.ack();
        metrics.routed.inc();
        return;
      }
      if (await keepAlive(msg, n.metadata.isPersisted, () => deliver(msg, n))) {
        await msg.ack();
        metrics.routed.inc();
      }
    } finally {
      if (timed) metrics.processDuration.observe((performance.now() - started) / 1000);
    }
  };

  return {
    get ready() {
      return ready;
    },
    async start() {
      if (tracker !== null) return;
      const pending = queue.pending === undefined ? undefined : () => queue.pending!();
      const heldStats = () => {
        let oldest: number | null = null;
        for (const h of held) if (oldest === null || h.since < oldest) oldest = h.since;
        return { count: held.size, oldestSince: oldest };
      };
      metrics.observe(pending === undefined ? { registry, held: heldStats } : { registry, pending, held: heldStats });
      tracker = new RegistryTracker({ bus, registry, log, ...options.registry });
      await tracker.start();
      if (stopping !== null) return;
      ticker = setInterval(() => {
        for (const msg of working) msg.working();
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

import { RegistryTracker, decodeIngestBody, headerValue, type IngestBacklog } from "@tidings/bus";
import {
  subjects,
  validateEnvelope,
  type AudienceRegistry,
  type Bus,
  type BusHeaders,
  type EnvelopeProblem,
  type IngestConsumer,
  type IngestMessage,
  type IngestQueue,
  type Notification,
  type NotificationStore,
} from "@tidings/contracts";
import { endSpan, startProcessSpan, traceHeaders as spanHeaders, type Logger } from "@tidings/observability";
import { KeyedSerial } from "./keyed-serial.js";
import { DeadLetterReason, type RouterMetrics } from "./metrics.js";
import { createRoute } from "./route.js";

export interface RouterOptions {
  /** Lifetime of a persisted notification without `persistedTTL`, in seconds (TIDINGS_DEFAULT_TTL_SECONDS). */
  defaultTtlSeconds: number;
  /** Largest envelope as received, in bytes (TIDINGS_MAX_NOTIFICATION_BYTES). */
  maxNotificationBytes: number;
  /** Ingest messages this router handles at once (default 64). */
  maxInFlight?: number;
  /** Redelivery delay after the first store failure, doubling per delivery (default 500 ms). */
  storeRetryMs?: number;
  /** Longest redelivery delay after a store failure (default 30 000 ms). */
  storeRetryMaxMs?: number;
  /** Registry tracker timing; the heartbeat interval must match the gateways' (default 5000 ms). */
  registry?: { heartbeatIntervalMs?: number; syncWindowMs?: number; snapshotTimeoutMs?: number };
}

export interface RouterDeps {
  bus: Bus;
  /** The ingest stream; its backlog feeds `tidings_router_jetstream_pending` when it can tell. */
  queue: IngestQueue & Partial<IngestBacklog>;
  store: NotificationStore;
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

/** Longest `Tidings-Error` header value. */
const MAX_ERROR_HEADER_CHARS = 1024;

/**
 * The router (docs/architecture.md §2, step 2). Per ingest message: decode (JSON, or MessagePack
 * by `Content-Type`) → validate → an invalid one is republished raw to `tidings.deadletter` with
 * `Tidings-Error`, counted and acked → a persisted one is saved (a store failure naks with backoff
 * and never acks, so nothing accepted is lost) → published once per owning node → acked. Acking
 * last makes delivery into the cluster at-least-once: a crash before the ack redelivers, the store
 * save is idempotent on (audience, id) and gateways drop repeats within the dedupe window.
 * Messages to one audience are routed in fetch order.
 */
export function createRouter(deps: RouterDeps): Router {
  const { bus, queue, store, registry, log, metrics, options } = deps;
  const maxInFlight = options.maxInFlight ?? 64;
  const retryMs = options.storeRetryMs ?? 500;
  const retryMaxMs = options.storeRetryMaxMs ?? 30_000;
  const route = createRoute({ bus, registry, onPublished: (count) => metrics.nodePublishes.inc(count) });
  const serial = new KeyedSerial();
  let tracker: RegistryTracker | null = null;
  let consumer: IngestConsumer | null = null;
  let ready = false;
  let stopping: Promise<void> | null = null;

  const deadLetter = async (msg: IngestMessage, reason: DeadLetterReason, detail: string): Promise<void> => {
    bus.publish(subjects.deadLetter, msg.data, {
      ...msg.headers,
      "Tidings-Error": headerSafe(`${reason}: ${detail}`),
      "Tidings-Subject": msg.subject,
    });
    metrics.deadLettered.labels(reason).inc();
    log.warn({ reason, detail, subject: msg.subject, msgId: msg.headers?.["Nats-Msg-Id"] ?? null }, "dead-lettered an ingest message");
    await msg.ack();
  };

  /** Persists (when asked) and routes; false when the store refused and the message was nak'ed. */
  const deliver = async (msg: IngestMessage, n: Notification): Promise<boolean> => {
    // The router's `process` span continues the producer's trace; the gateways' spans continue this one.
    const span = startProcessSpan(msg.subject, msg.headers, n.id);
    try {
      const routed = await persistAndRoute(msg, n, span.isRecording() ? spanHeaders(span) : traceHeaders(msg.headers));
      endSpan(span);
      return routed;
    } catch (err) {
      endSpan(span, err);
      throw err;
    }
  };

  const persistAndRoute = async (msg: IngestMessage, n: Notification, outgoingTrace: BusHeaders | undefined): Promise<boolean> => {
    if (n.metadata.isPersisted) {
      try {
        // "expired" is fine too: such a notification is delivered live and not stored (docs/contract.md §6).
        await store.save(n);
      } catch (error) {
        metrics.storeFailures.inc();
        const delay = Math.min(retryMaxMs, retryMs * 2 ** Math.min(20, msg.deliveryCount - 1));
        log.warn(
          { err: error, id: n.id, audienceId: n.routing.audienceId, deliveryCount: msg.deliveryCount, retryInMs: delay },
          "store did not take a persisted notification; it will be redelivered",
        );
        msg.nak(delay);
        return false;
      }
    }
    route(n, outgoingTrace);
    return true;
  };

  const handle = async (msg: IngestMessage): Promise<void> => {
    const endTimer = metrics.processDuration.startTimer();
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
      if (await serial.run(n.routing.audienceId, () => deliver(msg, n))) {
        await msg.ack();
        metrics.routed.inc();
      }
    } finally {
      endTimer();
    }
  };

  return {
    get ready() {
      return ready;
    },
    async start() {
      if (tracker !== null) return;
      const pending = queue.pending === undefined ? undefined : () => queue.pending!();
      metrics.observe(pending === undefined ? { registry } : { registry, pending });
      tracker = new RegistryTracker({ bus, registry, log, ...options.registry });
      await tracker.start();
      if (stopping !== null) return;
      consumer = queue.consume(handle, { maxInFlight });
      ready = true;
      log.info({ nodes: registry.liveNodes().size, maxInFlight }, "router consuming");
    },
    stop() {
      stopping ??= (async () => {
        ready = false;
        await consumer?.stop();
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

function describeProblems(problems: readonly EnvelopeProblem[]): string {
  return problems.map((p) => (p.path === "" ? p.message : `${p.path} ${p.message}`)).join("; ");
}

/** One line, no control characters, bounded: what a NATS header value may hold. */
function headerSafe(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, " ");
  return flat.length > MAX_ERROR_HEADER_CHARS ? flat.slice(0, MAX_ERROR_HEADER_CHARS - 1) + "…" : flat;
}

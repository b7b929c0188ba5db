import { THROTTLE_REASONS } from "./call-limiter.js";
import { Counter, FAST_BUCKETS, Gauge, Histogram, LATENCY_BUCKETS, presetLabels, Registry } from "@tidings/observability";

/** Why a connection ended: a fixed, bounded label set. */
export const DISCONNECT_REASONS = [
  "client_close",
  "transport_closed",
  "handshake_failed",
  "invalid_message",
  "message_too_large",
  "client_timeout",
  "slow_consumer",
  "hub_call_flood",
  "drain",
  "server_close",
] as const;
export type DisconnectReason = (typeof DISCONNECT_REASONS)[number];

/*
 * Known label values. Counters over them are exported at 0 from the start, so rate(), increase() and
 * alerts see every series before its first event (a series that appears with its first increment
 * loses that increment to rate()).
 */
const TRANSPORT_LABELS = ["WebSockets", "ServerSentEvents", "LongPolling"] as const;
const PROTOCOL_LABELS = ["json", "messagepack"] as const;
/** The hub's client-callable methods, and `unknown` for a target that names none. */
const HUB_METHOD_LABELS = ["Subscribe", "Unsubscribe", "MarkAsRead", "MarkAsUnread", "MarkAsDeleted", "unknown"] as const;
const INVOCATION_RESULTS = ["ok", "refused", "binding_error", "not_found", "failed"] as const;

/**
 * The encode and fan-out duration and the delivery-latency histograms observe 1 delivered notification
 * in TIMING_SAMPLE_EVERY (the 1st, the 65th, …; fanout.ts): four performance.now() calls, reading and
 * parsing the timeStamp and three histogram observations are ~1.5 µs, more than the rest of a
 * one-receiver delivery from a framed node message (fanout-one bench profiles). A 1-in-64 sample still
 * fills the buckets at any rate worth a latency quantile (78 observations a second at 5,000
 * notifications/s), so the quantiles hold. Counters stay exact. A power of two.
 */
export const TIMING_SAMPLE_EVERY = 64;

/** The gateway's instruments (`tidings_gateway_*`). Labels are bounded: never user, audience or connection ids. */
export function createGatewayMetrics(registry: Registry, sampleConnections: () => Iterable<{ transport: string; protocol: string }>) {
  const registers = [registry];
  /*
   * Hot-path tallies: a prom-client labelled child hashes and validates its labels on every inc (~75 ns;
   * the fan-out made three per notification). The fan-out adds to plain numbers instead and registers a
   * flush here; prom-client runs a counter's `collect` before every read of it (scrape, get()), so the
   * counters below stay exact whenever they are observed.
   */
  const tallyFlushes: Array<() => void> = [];
  const flushTallies = () => {
    for (const flush of tallyFlushes) flush();
  };
  return {
    /** Registers `flush`, which adds hot-path tallies to `notifications`, `deliveries`, `sentBytes` and `ingest`; run before any of them is read. */
    addTallyFlush(flush: () => void): void {
      tallyFlushes.push(flush);
    },
    connections: new Gauge({
      name: "tidings_gateway_connections",
      help: "Open hub connections (handshake done) by transport and protocol.",
      labelNames: ["transport", "protocol"] as const,
      registers,
      // Counted at scrape time from the connection table: no bookkeeping on connect/disconnect paths.
      collect() {
        this.reset();
        for (const c of sampleConnections()) this.inc({ transport: c.transport, protocol: c.protocol });
      },
    }),
    connects: presetLabels(
      new Counter({
        name: "tidings_gateway_connects_total",
        help: "Successful hub handshakes.",
        labelNames: ["transport", "protocol"] as const,
        registers,
      }),
      { transport: TRANSPORT_LABELS, protocol: PROTOCOL_LABELS },
    ),
    disconnects: presetLabels(
      new Counter({
        name: "tidings_gateway_disconnects_total",
        help: "Ended connections by reason.",
        labelNames: ["reason"] as const,
        registers,
      }),
      { reason: DISCONNECT_REASONS },
    ),
    slowConsumers: new Counter({
      name: "tidings_gateway_slow_consumer_disconnects_total",
      help: "Connections closed because their outbound buffer exceeded TIDINGS_MAX_BACKPRESSURE_BYTES.",
      registers,
    }),
    notifications: presetLabels(
      new Counter({
        name: "tidings_gateway_notifications_total",
        help: "Notifications handed to this node's fan-out, by result (delivered | duplicate).",
        labelNames: ["result"] as const,
        registers,
        collect: flushTallies,
      }),
      { result: ["delivered", "duplicate"] },
    ),
    deliveries: presetLabels(
      new Counter({
        name: "tidings_gateway_deliveries_total",
        help: "Per-socket deliveries (one notification to one connection).",
        labelNames: ["protocol"] as const,
        registers,
        collect: flushTallies,
      }),
      { protocol: PROTOCOL_LABELS },
    ),
    sentBytes: presetLabels(
      new Counter({
        name: "tidings_gateway_sent_bytes_total",
        help: "Notification bytes written to sockets (frame payload × receivers).",
        labelNames: ["protocol"] as const,
        registers,
        collect: flushTallies,
      }),
      { protocol: PROTOCOL_LABELS },
    ),
    encodeSeconds: new Histogram({
      name: "tidings_gateway_encode_duration_seconds",
      labelNames: ["protocol"] as const,
      help: `Time to encode one notification for one protocol, by protocol. Sampled: observed for 1 in ${TIMING_SAMPLE_EVERY} notifications (the first, the ${TIMING_SAMPLE_EVERY + 1}th, ...), so _count is not a notification count (see tidings_gateway_notifications_total).`,
      buckets: FAST_BUCKETS,
      registers,
    }),
    fanoutSeconds: new Histogram({
      name: "tidings_gateway_fanout_duration_seconds",
      help: `Time to fan one notification out to every local receiver (encode + publish). Sampled: observed for 1 in ${TIMING_SAMPLE_EVERY} notifications (the first, the ${TIMING_SAMPLE_EVERY + 1}th, ...), so _count is not a notification count (see tidings_gateway_notifications_total).`,
      buckets: FAST_BUCKETS,
      registers,
    }),
    deliveryLatency: new Histogram({
      name: "tidings_gateway_delivery_latency_seconds",
      help: `From the notification's timeStamp (acceptance time unless the producer set it) to the socket write on this node. Sampled: observed for 1 in ${TIMING_SAMPLE_EVERY} delivered notifications (the first, the ${TIMING_SAMPLE_EVERY + 1}th, ...), so _count is not a notification count (see tidings_gateway_notifications_total).`,
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    membershipAckSeconds: new Histogram({
      name: "tidings_gateway_membership_ack_seconds",
      help: "Cluster mode: time a Subscribe completion waited until every live router acknowledged the membership.",
      buckets: LATENCY_BUCKETS,
      registers,
    }),
    membershipAckTimeouts: new Counter({
      name: "tidings_gateway_membership_ack_timeouts_total",
      help: "Subscribe completions sent after TIDINGS_MEMBERSHIP_ACK_TIMEOUT_SECONDS without every router's acknowledgement of the membership.",
      registers,
    }),
    invocations: presetLabels(
      new Counter({
        name: "tidings_gateway_hub_invocations_total",
        help: "Hub method calls by method and result.",
        labelNames: ["method", "result"] as const,
        registers,
      }),
      { method: HUB_METHOD_LABELS, result: INVOCATION_RESULTS },
    ),
    hubCallsThrottled: presetLabels(
      new Counter({
        name: "tidings_gateway_hub_calls_throttled_total",
        help: "Hub calls refused with Throttled without running (non-blocking ones dropped unanswered), by reason: rate (TIDINGS_HUB_CALL_RATE/_BURST) or queue (TIDINGS_MAX_QUEUED_CALLS).",
        labelNames: ["reason"] as const,
        registers,
      }),
      { reason: THROTTLE_REASONS },
    ),
    hubCallFloods: new Counter({
      name: "tidings_gateway_hub_call_flood_disconnects_total",
      help: "Connections closed with `Too many hub calls`: more than TIDINGS_HUB_CALL_FLOOD_LIMIT throttled calls within TIDINGS_HUB_CALL_FLOOD_WINDOW_SECONDS.",
      registers,
    }),
    authFailures: new Counter({ name: "tidings_gateway_auth_failures_total", help: "Requests refused with 401.", registers }),
    catchUpNotifications: new Counter({
      name: "tidings_gateway_catchup_notifications_total",
      help: "Stored notifications sent to connections by the catch-up after this node's NATS connection came back (what the outage cost them live).",
      registers,
    }),
    encodeFailures: presetLabels(
      new Counter({
        name: "tidings_gateway_encode_failures_total",
        help: "Notifications a hub protocol could not encode, per receiving protocol (live or replay); each was skipped for that protocol, its connections stayed open.",
        labelNames: ["protocol"] as const,
        registers,
      }),
      { protocol: PROTOCOL_LABELS },
    ),
    ingest: presetLabels(
      new Counter({
        name: "tidings_gateway_ingest_notifications_total",
        help: "POST /api/notifications envelopes by result (accepted | rejected | unavailable).",
        labelNames: ["result"] as const,
        registers,
        collect: flushTallies,
      }),
      { result: ["accepted", "rejected", "unavailable"] },
    ),
  };
}

export type GatewayMetrics = ReturnType<typeof createGatewayMetrics>;

/** Every metric name this service exports, for dashboards and alert checks. */
export function metricNames(): string[] {
  const registry = new Registry();
  createGatewayMetrics(registry, () => []);
  return registry.getMetricsAsArray().map((m) => m.name);
}

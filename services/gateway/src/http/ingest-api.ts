import { decodeIngestBody, MAX_INGEST_NESTING, MSGPACK_CONTENT_TYPE, nestedTooDeep } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { validateEnvelopes, type Notification } from "@tidings/contracts";
import { endSpan, inSpan, startPublishSpan, traceHeaders, type Logger } from "@tidings/observability";
import type { GatewayMetrics } from "../metrics.js";
import { envelopeSizesWithin } from "./envelope-sizes.js";
import { ingestMediaType, type IngestMediaType } from "./ingest-guard.js";
import type { ProducerAuth } from "./producer-auth.js";
import { receiveBody, type Reply } from "./respond.js";

const MAX_INGEST_BODY_BYTES = 4 * 1024 * 1024;

/** Accepts validated notifications durably; rejects when they cannot be accepted (→ 503, nothing accepted). */
export type IngestSink = (notifications: readonly Notification[], traceHeaders: Readonly<Record<string, string>>) => Promise<void>;

export interface IngestApiDeps {
  config: TidingsConfig;
  log: Logger;
  metrics: GatewayMetrics;
  producerAuth: ProducerAuth;
  /** where accepted notifications go; absent → 503 */
  ingest: IngestSink | undefined;
}

/** What the ingest handler reads from the uWS request, before its first await. */
export interface IngestRequest {
  method: string;
  authorization: string;
  contentType: string;
  host: string;
}

/**
 * The producer ingest API: POST /api/notifications (and, with TIDINGS_TESTING, /test/notifications, which
 * delivers live only). The whole batch is validated first; `202` only once the sink accepted it durably.
 * Everything up to the sink runs synchronously in the request's own uWS callbacks (no promise per body):
 * only the sink is awaited. `fail` answers an unexpected error, thrown or rejected.
 */
export function createIngestApi(
  deps: IngestApiDeps,
): (reply: Reply, req: IngestRequest, liveOnly: boolean, fail: (err: unknown) => void) => void {
  const { config, log, metrics, producerAuth } = deps;
  // Tallied as plain numbers, added to the counter before every read of it (as the fan-out's).
  const tally = { accepted: 0, rejected: 0, unavailable: 0 };
  metrics.addTallyFlush(() => {
    for (const result of ["accepted", "rejected", "unavailable"] as const) {
      if (tally[result] === 0) continue;
      metrics.ingest.inc({ result }, tally[result]);
      tally[result] = 0;
    }
  });

  /** The body as received (valid only during this call): parsed, validated, handed to the sink. */
  function accept(reply: Reply, body: Buffer, format: IngestMediaType, liveOnly: boolean, fail: (err: unknown) => void): void {
    let parsed: unknown;
    let sizes: number[] | undefined;
    if (format === "msgpack") {
      // Decoded values may view the body's bytes, which uWS reuses once this callback returns.
      const decoded = decodeIngestBody(Buffer.from(body), { "Content-Type": MSGPACK_CONTENT_TYPE });
      if (!decoded.ok) {
        if (decoded.nesting === true) return tooDeep(reply);
        return reply.apiError(400, "invalid_msgpack", "The request body is not valid MessagePack.");
      }
      parsed = decoded.value;
    } else {
      if (nestedTooDeep(body, "json")) return tooDeep(reply);
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        return reply.apiError(400, "invalid_json", "The request body is not valid JSON.");
      }
      sizes = envelopeSizesWithin(body, Array.isArray(parsed) ? parsed.length : 1, config.maxNotificationBytes);
    }
    const result = validateEnvelopes(parsed, {
      now: new Date(),
      ...(sizes === undefined ? {} : { sizes }),
      defaultTtlSeconds: config.defaultTtlSeconds,
      maxNotificationBytes: config.maxNotificationBytes,
    });
    if (!result.ok) {
      tally.rejected += Array.isArray(parsed) ? parsed.length : 1;
      const n = result.problems.length;
      return reply.apiError(400, "invalid_notification", `${n} problem${n === 1 ? "" : "s"} found; nothing was accepted.`, {
        problems: result.problems,
      });
    }
    const notifications = liveOnly
      ? result.notifications.map((n) => ({ ...n, metadata: { ...n.metadata, isPersisted: false, persistedTTL: null } }))
      : result.notifications;
    const sink = deps.ingest;
    if (sink === undefined) return reply.apiError(503, "unavailable", "This node does not accept notifications.");
    const span = startPublishSpan("tidings.notify.http", notifications.length);
    let sunk: Promise<void>;
    try {
      // Active while the sink runs, so its log lines carry the trace.
      sunk = inSpan(span, () => sink(notifications, traceHeaders(span)));
    } catch (err) {
      return refuse(reply, span, notifications.length, err);
    }
    sunk
      .then(
        () => {
          endSpan(span);
          tally.accepted += notifications.length;
          reply.json(202, { accepted: notifications.length, ids: notifications.map((n) => n.id) });
        },
        (err: unknown) => refuse(reply, span, notifications.length, err),
      )
      .catch(fail);
  }

  /** Nested deeper than any batch of valid envelopes, refused before parsing (see MAX_INGEST_NESTING). */
  function tooDeep(reply: Reply): void {
    tally.rejected += 1;
    reply.apiError(400, "invalid_notification", "1 problem found; nothing was accepted.", {
      problems: [{ index: -1, path: "", message: `must nest at most ${MAX_INGEST_NESTING} levels deep` }],
    });
  }

  /** The sink could not accept the batch: 503, nothing accepted. */
  function refuse(reply: Reply, span: ReturnType<typeof startPublishSpan>, count: number, err: unknown): void {
    endSpan(span, err);
    tally.unavailable += count;
    log.warn({ err }, "ingest failed; answered 503");
    reply.apiError(503, "unavailable", "Notifications cannot be accepted right now; retry with the same ids.", {}, [["Retry-After", "1"]]);
  }

  return function ingest(reply, req, liveOnly, fail): void {
    if (req.method !== "POST") return reply.apiError(405, "method_not_allowed", "Use POST.", {}, [["Allow", "POST"]]);
    if (!producerAuth.authorised(req.authorization, reply.res)) {
      return reply.apiError(401, "unauthorized", "A valid producer key is required (Authorization: Bearer <key>).", {}, [
        ["WWW-Authenticate", 'Bearer realm="tidings-ingest"'],
      ]);
    }
    if (!producerAuth.hostAllowed(req.host)) return producerAuth.refuseHost(reply);
    const format = ingestMediaType(req.contentType);
    if (format === null) {
      return reply.apiError(
        415,
        "unsupported_media_type",
        "Send the notifications as Content-Type: application/json or application/msgpack.",
      );
    }
    // The producer going away mid-body ends nothing here: nothing was accepted and nobody is left to answer.
    receiveBody(
      reply,
      MAX_INGEST_BODY_BYTES,
      (body) => {
        try {
          accept(reply, body, format, liveOnly, fail);
        } catch (err) {
          fail(err);
        }
      },
      () => reply.apiError(413, "payload_too_large", `The request body exceeds ${MAX_INGEST_BODY_BYTES} bytes.`),
    );
  };
}

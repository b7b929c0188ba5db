import { decodeIngestBody, MSGPACK_CONTENT_TYPE } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { validateEnvelopes, type Notification } from "@tidings/contracts";
import { endSpan, inSpan, startPublishSpan, traceHeaders, type Logger } from "@tidings/observability";
import type { GatewayMetrics } from "../metrics.js";
import { envelopeSizes } from "./envelope-sizes.js";
import { ingestMediaType } from "./ingest-guard.js";
import type { ProducerAuth } from "./producer-auth.js";
import { BodyAbortedError, BodyTooLargeError, readBody, type Reply } from "./respond.js";

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
 */
export function createIngestApi(deps: IngestApiDeps): (reply: Reply, req: IngestRequest, liveOnly: boolean) => Promise<void> {
  const { config, log, metrics, producerAuth } = deps;
  return async function ingest(reply: Reply, req: IngestRequest, liveOnly: boolean): Promise<void> {
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
    let body: Buffer;
    try {
      body = await readBody(reply, MAX_INGEST_BODY_BYTES);
    } catch (err) {
      if (err instanceof BodyTooLargeError)
        return reply.apiError(413, "payload_too_large", `The request body exceeds ${MAX_INGEST_BODY_BYTES} bytes.`);
      if (err instanceof BodyAbortedError) return; // the producer went away mid-body: nothing accepted, nobody to answer
      throw err;
    }
    let parsed: unknown;
    let sizes: number[] | undefined;
    if (format === "msgpack") {
      const decoded = decodeIngestBody(body, { "Content-Type": MSGPACK_CONTENT_TYPE });
      if (!decoded.ok) return reply.apiError(400, "invalid_msgpack", "The request body is not valid MessagePack.");
      parsed = decoded.value;
    } else {
      try {
        parsed = JSON.parse(body.toString("utf8"));
      } catch {
        return reply.apiError(400, "invalid_json", "The request body is not valid JSON.");
      }
      sizes = envelopeSizes(body);
    }
    const result = validateEnvelopes(parsed, {
      now: new Date(),
      ...(sizes === undefined ? {} : { sizes }),
      defaultTtlSeconds: config.defaultTtlSeconds,
      maxNotificationBytes: config.maxNotificationBytes,
    });
    if (!result.ok) {
      metrics.ingest.inc({ result: "rejected" }, Array.isArray(parsed) ? parsed.length : 1);
      const n = result.problems.length;
      return reply.apiError(400, "invalid_notification", `${n} problem${n === 1 ? "" : "s"} found; nothing was accepted.`, {
        problems: result.problems,
      });
    }
    const notifications = liveOnly
      ? result.notifications.map((n) => ({ ...n, metadata: { ...n.metadata, isPersisted: false, persistedTTL: null } }))
      : result.notifications;
    if (deps.ingest === undefined) return reply.apiError(503, "unavailable", "This node does not accept notifications.");
    const span = startPublishSpan("tidings.notify.http", notifications.length);
    try {
      // Active while the sink runs, so its log lines carry the trace.
      await inSpan(span, () => deps.ingest!(notifications, traceHeaders(span)));
      endSpan(span);
    } catch (err) {
      endSpan(span, err);
      metrics.ingest.inc({ result: "unavailable" }, notifications.length);
      log.warn({ err }, "ingest failed; answered 503");
      return reply.apiError(503, "unavailable", "Notifications cannot be accepted right now; retry with the same ids.", {}, [
        ["Retry-After", "1"],
      ]);
    }
    metrics.ingest.inc({ result: "accepted" }, notifications.length);
    reply.json(202, { accepted: notifications.length, ids: notifications.map((n) => n.id) });
  };
}

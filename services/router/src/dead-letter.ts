import { subjects, type Bus, type EnvelopeProblem, type IngestMessage } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { DeadLetterReason, RouterMetrics } from "./metrics.js";

/** Longest `Tidings-Error` header value. */
const MAX_ERROR_HEADER_CHARS = 1024;

/** Gives up an ingest message: republished raw to the dead-letter subject with the reason, counted, logged and acked. */
export type DeadLetterFn = (msg: IngestMessage, reason: DeadLetterReason, detail: string) => Promise<void>;

/**
 * The router's dead-lettering: the message's bytes and headers unchanged on `tidings.deadletter`,
 * plus `Tidings-Error: <reason>: <detail>` (one line, bounded) and `Tidings-Subject` (where it was
 * consumed from); acked after publishing, so it is not delivered again.
 */
export function createDeadLetter(deps: { bus: Bus; log: Logger; metrics: RouterMetrics }): DeadLetterFn {
  const { bus, log, metrics } = deps;
  return async (msg, reason, detail) => {
    bus.publish(subjects.deadLetter, msg.data, {
      ...msg.headers,
      "Tidings-Error": headerSafe(`${reason}: ${detail}`),
      "Tidings-Subject": msg.subject,
    });
    metrics.deadLettered.labels(reason).inc();
    log.warn({ reason, detail, subject: msg.subject, msgId: msg.headers?.["Nats-Msg-Id"] ?? null }, "dead-lettered an ingest message");
    await msg.ack();
  };
}

/** An envelope's problems as one detail text. */
export function describeProblems(problems: readonly EnvelopeProblem[]): string {
  return problems.map((p) => (p.path === "" ? p.message : `${p.path} ${p.message}`)).join("; ");
}

/** One line, no control characters, bounded: what a NATS header value may hold. */
function headerSafe(text: string): string {
  const flat = text.replace(/[\x00-\x1f\x7f]+/g, " ");
  return flat.length > MAX_ERROR_HEADER_CHARS ? flat.slice(0, MAX_ERROR_HEADER_CHARS - 1) + "…" : flat;
}

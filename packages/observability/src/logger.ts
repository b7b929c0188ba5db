import { context, trace } from "@opentelemetry/api";
import { pino, type DestinationStream, type Logger, type LevelWithSilent, type LoggerOptions } from "pino";

export type { Logger };

/**
 * One JSON line per event on stdout (pino). `service` and `nodeId` are bound on every line so logs
 * from several processes can be merged and filtered; `level` is the level's name ("info", "error"),
 * not pino's number; a line written while a span is active carries its `trace_id` and `span_id`
 * (W3C hex, as OTLP backends correlate them). Lines go to stdout unless `destination` is given.
 */
export function createLogger(opts: { level: LevelWithSilent; service: string; nodeId?: string }, destination?: DestinationStream): Logger {
  const options: LoggerOptions = {
    level: opts.level,
    base: { service: opts.service, ...(opts.nodeId === undefined ? {} : { nodeId: opts.nodeId }) },
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: traceFields,
  };
  return destination === undefined ? pino(options) : pino(options, destination);
}

/** `trace_id` / `span_id` of the active span; nothing outside a span (or with tracing off). */
function traceFields(): { trace_id?: string; span_id?: string } {
  const span = trace.getSpan(context.active());
  if (span === undefined) return {};
  const { traceId, spanId } = span.spanContext();
  return trace.isSpanContextValid(span.spanContext()) ? { trace_id: traceId, span_id: spanId } : {};
}

/** A logger that drops everything: for tests that assert on behaviour, not on log lines. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

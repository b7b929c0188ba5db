import { context, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import { NodeSDK } from "@opentelemetry/sdk-node";

type SpanProcessors = NonNullable<ConstructorParameters<typeof NodeSDK>[0]>["spanProcessors"];

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Starts OpenTelemetry tracing (W3C trace context, OTLP exporter configured by the standard
 * `OTEL_*` variables). Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * is set or span processors are passed (tests): without it every span below is a no-op.
 */
export function startTracing(opts: { serviceName: string; env?: NodeJS.ProcessEnv; spanProcessors?: SpanProcessors }): Tracing | null {
  const env = opts.env ?? process.env;
  const configured = (env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "") !== "";
  if (!configured && opts.spanProcessors === undefined) return null;
  const sdk = new NodeSDK({
    serviceName: opts.serviceName,
    ...(opts.spanProcessors === undefined ? {} : { spanProcessors: opts.spanProcessors }),
    instrumentations: [],
  });
  sdk.start();
  return {
    async shutdown() {
      await sdk.shutdown();
      // Unregister the globals so a later start (tests, restarts in-process) begins clean.
      trace.disable();
      propagation.disable();
      context.disable();
    },
  };
}

const tracer = () => trace.getTracer("tidings");

/** W3C `traceparent`/`tracestate` of a span, for NATS message headers (messaging conventions). */
export function traceHeaders(span: Span): Record<string, string> {
  const carrier: Record<string, string> = {};
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier;
}

/** Parent context carried in message headers (absent or malformed headers → a new trace). */
export function contextFrom(headers: Readonly<Record<string, string>> | null | undefined): Context {
  return headers === null || headers === undefined ? context.active() : propagation.extract(context.active(), headers);
}

/** A `publish` span (producer side) for `destination`, e.g. `tidings.notify.http`. */
export function startPublishSpan(destination: string, messageCount: number): Span {
  return tracer().startSpan(`publish ${destination}`, {
    kind: SpanKind.PRODUCER,
    attributes: { "messaging.system": "nats", "messaging.operation.type": "publish", "messaging.destination.name": destination, "messaging.batch.message_count": messageCount },
  });
}

/** A `process` span (consumer side) continuing the trace found in `headers`. */
export function startProcessSpan(destination: string, headers: Readonly<Record<string, string>> | null | undefined, messageId?: string): Span {
  return tracer().startSpan(
    `process ${destination}`,
    {
      kind: SpanKind.CONSUMER,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.type": "process",
        "messaging.destination.name": destination,
        ...(messageId === undefined ? {} : { "messaging.message.id": messageId }),
      },
    },
    contextFrom(headers),
  );
}

/** Ends a span, marking it failed when `err` is given. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : new Error(typeof err === "string" ? err : "non-Error thrown"));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

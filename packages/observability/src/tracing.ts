import { context, INVALID_SPAN_CONTEXT, propagation, SpanKind, SpanStatusCode, trace, type Context, type Span } from "@opentelemetry/api";
import type { NodeSDK } from "@opentelemetry/sdk-node";

type SpanProcessors = NonNullable<ConstructorParameters<typeof NodeSDK>[0]>["spanProcessors"];

export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * True while an SDK started by startTracing runs. Off, every span below is one shared non-recording
 * span: what the API's no-op tracer would return, without the tracer lookup, context extraction and
 * attribute object per span (a gateway starts one per delivered notification).
 */
let tracingOn = false;
const OFF_SPAN: Span = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);

/**
 * Starts OpenTelemetry tracing (W3C trace context, OTLP exporter configured by the standard
 * `OTEL_*` variables). Off unless `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
 * is set or span processors are passed (tests): without it every span below is a no-op, and the SDK
 * (about half a second of CPU to load) is not loaded at all.
 */
export async function startTracing(opts: {
  serviceName: string;
  env?: NodeJS.ProcessEnv;
  spanProcessors?: SpanProcessors;
}): Promise<Tracing | null> {
  const env = opts.env ?? process.env;
  const configured = (env["OTEL_EXPORTER_OTLP_ENDPOINT"] ?? env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] ?? "") !== "";
  if (!configured && opts.spanProcessors === undefined) return null;
  const { NodeSDK } = await import("@opentelemetry/sdk-node");
  const sdk = new NodeSDK({
    serviceName: opts.serviceName,
    ...(opts.spanProcessors === undefined ? {} : { spanProcessors: opts.spanProcessors }),
    instrumentations: [],
  });
  sdk.start();
  tracingOn = true;
  return {
    async shutdown() {
      tracingOn = false;
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
  if (span === OFF_SPAN) return carrier; // tracing off: nothing to propagate
  propagation.inject(trace.setSpan(context.active(), span), carrier);
  return carrier;
}

/** Parent context carried in message headers (absent or malformed headers → a new trace). */
export function contextFrom(headers: Readonly<Record<string, string>> | null | undefined): Context {
  return headers === null || headers === undefined ? context.active() : propagation.extract(context.active(), headers);
}

/**
 * Subjects whose last tokens vary (a node id, a producer's suffix) by their template, for the
 * low-cardinality span name and `messaging.destination.template`; the full subject stays in
 * `messaging.destination.name`. Other subjects are fixed and name themselves.
 */
const DESTINATION_TEMPLATES: ReadonlyArray<readonly [prefix: string, template: string]> = [
  ["tidings.v1.node.", "tidings.v1.node.{nodeId}"],
  ["tidings.notify.", "tidings.notify.{suffix}"],
];

/** The template of `subject`, or undefined when the subject is fixed (`tidings.notify.http` is the HTTP ingest's own). */
export function destinationTemplate(subject: string): string | undefined {
  if (subject === HTTP_INGEST_SUBJECT) return undefined;
  return DESTINATION_TEMPLATES.find(([prefix]) => subject.startsWith(prefix))?.[1];
}

const HTTP_INGEST_SUBJECT = "tidings.notify.http";

/**
 * A messaging span as the OTel conventions name it: `<operation> <template or fixed destination>`,
 * with `messaging.operation.name` / `.type` and the destination's name and template.
 */
function messagingSpan(
  operation: "publish" | "process",
  kind: SpanKind,
  destination: string,
  attributes: Record<string, string | number>,
  parent?: Context,
): Span {
  if (!tracingOn) return OFF_SPAN;
  const template = destinationTemplate(destination);
  return tracer().startSpan(
    `${operation} ${template ?? destination}`,
    {
      kind,
      attributes: {
        "messaging.system": "nats",
        "messaging.operation.name": operation,
        "messaging.operation.type": operation,
        "messaging.destination.name": destination,
        ...(template === undefined ? {} : { "messaging.destination.template": template }),
        ...attributes,
      },
    },
    parent,
  );
}

/** A `publish` span (producer side) for `destination`, e.g. `tidings.notify.http`. */
export function startPublishSpan(destination: string, messageCount: number): Span {
  return messagingSpan("publish", SpanKind.PRODUCER, destination, { "messaging.batch.message_count": messageCount });
}

/** A `process` span (consumer side) continuing the trace found in `headers`. */
export function startProcessSpan(
  destination: string,
  headers: Readonly<Record<string, string>> | null | undefined,
  messageId?: string,
): Span {
  if (!tracingOn) return OFF_SPAN;
  return messagingSpan(
    "process",
    SpanKind.CONSUMER,
    destination,
    messageId === undefined ? {} : { "messaging.message.id": messageId },
    contextFrom(headers),
  );
}

/** Runs `fn` with `span` active, so log lines written meanwhile carry its trace_id and span_id. */
export function inSpan<T>(span: Span, fn: () => T): T {
  if (span === OFF_SPAN) return fn(); // tracing off: no context to enter
  return context.with(trace.setSpan(context.active(), span), fn);
}

/** Ends a span, marking it failed when `err` is given. */
export function endSpan(span: Span, err?: unknown): void {
  if (err !== undefined) {
    span.recordException(err instanceof Error ? err : new Error(typeof err === "string" ? err : "non-Error thrown"));
    span.setStatus({ code: SpanStatusCode.ERROR });
  }
  span.end();
}

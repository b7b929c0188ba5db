import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { endSpan, startProcessSpan, startPublishSpan, startTracing, traceHeaders } from "./tracing.js";

describe("tracing", () => {
  it("is off without configuration", () => {
    expect(startTracing({ serviceName: "t", env: {} })).toBeNull();
  });

  it("links publish → process through traceparent headers", async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const tracing = startTracing({ serviceName: "t", env: {}, spanProcessors: [processor] })!;
    const publish = startPublishSpan("tidings.notify.http", 1);
    const headers = traceHeaders(publish);
    expect(headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    endSpan(publish);
    endSpan(startProcessSpan("tidings.v1.node.a", headers, "n1"));
    await processor.forceFlush(); // export is asynchronous
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["publish tidings.notify.http", "process tidings.v1.node.a"]);
    expect(spans[1]!.spanContext().traceId).toBe(spans[0]!.spanContext().traceId);
    expect(spans[1]!.parentSpanContext?.spanId).toBe(spans[0]!.spanContext().spanId);
    await tracing.shutdown();
  });
});

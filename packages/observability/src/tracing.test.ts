import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { destinationTemplate, endSpan, startProcessSpan, startPublishSpan, startTracing, traceHeaders } from "./tracing.js";

describe("tracing", () => {
  it("is off without configuration", async () => {
    expect(await startTracing({ serviceName: "t", env: {} })).toBeNull();
  });

  it("links publish → process through traceparent headers", async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const tracing = (await startTracing({ serviceName: "t", env: {}, spanProcessors: [processor] }))!;
    const publish = startPublishSpan("tidings.notify.http", 1);
    const headers = traceHeaders(publish);
    expect(headers["traceparent"]).toMatch(/^00-[0-9a-f]{32}-[0-9a-f]{16}-01$/);
    endSpan(publish);
    endSpan(startProcessSpan("tidings.v1.node.a", headers, "n1"));
    await processor.forceFlush(); // export is asynchronous
    const spans = exporter.getFinishedSpans();
    expect(spans.map((s) => s.name)).toEqual(["publish tidings.notify.http", "process tidings.v1.node.{nodeId}"]);
    expect(spans[1]!.spanContext().traceId).toBe(spans[0]!.spanContext().traceId);
    expect(spans[1]!.parentSpanContext?.spanId).toBe(spans[0]!.spanContext().spanId);
    await tracing.shutdown();
  });

  it("names spans by operation and destination template (OTel messaging conventions), keeping the subject in an attribute", async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const tracing = (await startTracing({ serviceName: "t", env: {}, spanProcessors: [processor] }))!;
    endSpan(startProcessSpan("tidings.notify.billing.eu", undefined, "n2"));
    endSpan(startPublishSpan("tidings.notify.http", 3));
    await processor.forceFlush();
    const [routed, published] = exporter.getFinishedSpans();
    expect(routed!.name).toBe("process tidings.notify.{suffix}");
    expect(routed!.attributes).toMatchObject({
      "messaging.system": "nats",
      "messaging.operation.name": "process",
      "messaging.operation.type": "process",
      "messaging.destination.name": "tidings.notify.billing.eu",
      "messaging.destination.template": "tidings.notify.{suffix}",
      "messaging.message.id": "n2",
    });
    expect(published!.name).toBe("publish tidings.notify.http");
    expect(published!.attributes["messaging.operation.name"]).toBe("publish");
    expect(published!.attributes["messaging.destination.template"]).toBeUndefined();
    expect(published!.attributes["messaging.batch.message_count"]).toBe(3);
    await tracing.shutdown();
  });

  it("without a started SDK, spans are non-recording with an invalid context (nothing to propagate), before and after a run", async () => {
    const off = () => {
      const span = startProcessSpan("tidings.v1.node.a", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, "n1");
      return { recording: span.isRecording(), traceId: span.spanContext().traceId, headers: traceHeaders(span) };
    };
    const expected = { recording: false, traceId: "00000000000000000000000000000000", headers: {} };
    expect(off()).toEqual(expected);
    expect(startPublishSpan("tidings.notify.http", 1).isRecording()).toBe(false);
    const tracing = (await startTracing({
      serviceName: "t",
      env: {},
      spanProcessors: [new SimpleSpanProcessor({ exporter: new InMemorySpanExporter() })],
    }))!;
    const on = startProcessSpan("tidings.v1.node.a", { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, "n1");
    expect(on.isRecording()).toBe(true);
    expect(on.spanContext().traceId).toBe("0af7651916cd43dd8448eb211c80319c");
    endSpan(on);
    await tracing.shutdown();
    expect(off()).toEqual(expected);
  });

  it("maps only variable subjects to templates", () => {
    expect(destinationTemplate("tidings.v1.node.gw-7")).toBe("tidings.v1.node.{nodeId}");
    expect(destinationTemplate("tidings.notify.x")).toBe("tidings.notify.{suffix}");
    expect(destinationTemplate("tidings.notify.http")).toBeUndefined();
    expect(destinationTemplate("tidings.deadletter")).toBeUndefined();
  });
});

import { Writable } from "node:stream";
import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "./logger.js";
import { endSpan, inSpan, startProcessSpan, startTracing } from "./tracing.js";

/** A destination that keeps the JSON lines a logger writes. */
function sink(): { stream: Writable; lines: () => Record<string, unknown>[] } {
  const chunks: string[] = [];
  const stream = new Writable({ write: (chunk: Buffer, _enc, done) => void (chunks.push(chunk.toString()), done()) });
  return {
    stream,
    lines: () =>
      chunks
        .join("")
        .trim()
        .split("\n")
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe("logger - bindings", () => {
  it("binds service and nodeId on every line", () => {
    const log = createLogger({ level: "info", service: "gateway", nodeId: "n1" });
    expect(log.bindings()).toMatchObject({ service: "gateway", nodeId: "n1" });
    expect(log.isLevelEnabled("debug")).toBe(false);
  });
  it("silent logger logs nothing", () => {
    expect(silentLogger().isLevelEnabled("fatal")).toBe(false);
  });
});

describe("logger - fields for log pipelines", () => {
  it("writes string levels, and trace_id/span_id of the active span", async () => {
    const exporter = new InMemorySpanExporter();
    const tracing = (await startTracing({ serviceName: "t", env: {}, spanProcessors: [new SimpleSpanProcessor({ exporter })] }))!;
    try {
      const span = startProcessSpan("tidings.v1.node.a", undefined);
      const out = sink();
      const log = createLogger({ level: "info", service: "gateway" }, out.stream);
      log.warn("outside");
      inSpan(span, () => log.error("inside"));
      endSpan(span);
      const lines = out.lines();
      expect(lines.map((l) => [l["msg"], l["level"]])).toEqual([
        ["outside", "warn"],
        ["inside", "error"],
      ]);
      expect(lines[0]).not.toHaveProperty("trace_id");
      expect(lines[1]).toMatchObject({ trace_id: span.spanContext().traceId, span_id: span.spanContext().spanId });
      expect(lines[1]!["trace_id"]).toMatch(/^[0-9a-f]{32}$/);
    } finally {
      await tracing.shutdown();
    }
  });
});

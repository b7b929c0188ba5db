import { InMemorySpanExporter, SimpleSpanProcessor } from "@opentelemetry/sdk-trace";
import { startTracing } from "@tidings/observability";
import { buildClient, collect, mintToken, waitFor } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { envelope, startGateway } from "./harness.js";

describe("tracing", () => {
  it("one trace runs from HTTP ingest (publish) to the socket write (process)", async () => {
    const exporter = new InMemorySpanExporter();
    const processor = new SimpleSpanProcessor({ exporter });
    const tracing = (await startTracing({ serviceName: "gateway-test", env: {}, spanProcessors: [processor] }))!;
    const gw = await startGateway();
    try {
      const client = buildClient(gw.url, { token: await mintToken({ sub: "tr" }) });
      const got = collect(client, "note");
      await client.start();
      expect((await gw.publish([envelope(4, "tr")])).status).toBe(202);
      await waitFor(() => got.length === 1);
      await client.stop();
      await processor.forceFlush();
      const spans = exporter.getFinishedSpans();
      const publish = spans.find((s) => s.name === "publish tidings.notify.http")!;
      const process = spans.find((s) => s.name.startsWith("process tidings.v1.node."))!;
      expect(publish).toBeDefined();
      expect(process).toBeDefined();
      expect(process.spanContext().traceId).toBe(publish.spanContext().traceId);
      expect(process.parentSpanContext?.spanId).toBe(publish.spanContext().spanId);
      expect(process.attributes["tidings.duplicate"]).toBe(false);
    } finally {
      await gw[Symbol.asyncDispose]();
      await tracing.shutdown();
    }
  });
});

import { createServer, type Server } from "node:http";
import { buildClient, collect, freePort, mintToken, startNats, TEST_JWT_SECRET, waitFor, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

interface ReceivedSpan {
  service: string;
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string;
}

/** A minimal OTLP/HTTP JSON trace receiver: what a collector would get from each process. */
async function startCollector(): Promise<{ url: string; spans: ReceivedSpan[]; server: Server }> {
  const spans: ReceivedSpan[] = [];
  const port = await freePort();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      if (req.url === "/v1/traces") {
        const payload = JSON.parse(body) as {
          resourceSpans: Array<{
            resource: { attributes: Array<{ key: string; value: { stringValue?: string } }> };
            scopeSpans: Array<{ spans: Array<{ name: string; traceId: string; spanId: string; parentSpanId?: string }> }>;
          }>;
        };
        for (const rs of payload.resourceSpans) {
          const service = rs.resource.attributes.find((a) => a.key === "service.name")?.value.stringValue ?? "";
          for (const ss of rs.scopeSpans)
            for (const s of ss.spans)
              spans.push({ service, name: s.name, traceId: s.traceId, spanId: s.spanId, parentSpanId: s.parentSpanId ?? "" });
        }
      }
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { url: `http://127.0.0.1:${port}`, spans, server };
}

let nats: NatsServer;
let collector: Awaited<ReturnType<typeof startCollector>>;
const procs: TidingsProcess[] = [];

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  collector = await startCollector();
  const otel = {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_METRICS_EXPORTER: "none",
    OTEL_LOGS_EXPORTER: "none",
  };
  const common = { TIDINGS_NATS_URL: nats.url, TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...otel };
  procs.push(
    ...(await Promise.all([
      startTidings({ ...common, TIDINGS_ROLE: "store" }, "store service answering", 90_000),
      startTidings({ ...common, TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "trace-router" }, "router running", 90_000),
    ])),
  );
  procs.push(await startTidings({ ...common, TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "trace-gw" }, "listening", 90_000));
}, 200_000);

afterAll(async () => {
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  collector?.server.close();
});

describe("tracing across processes", () => {
  it("one trace: HTTP ingest publish (gateway) → router process → gateway process (socket write)", async () => {
    const gateway = procs[2]!;
    const client = buildClient(gateway.url, { token: await mintToken({ sub: "traced" }) });
    const got = collect(client, "note");
    await client.start();
    const res = await fetch(`${gateway.url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "traced-1",
        type: "note",
        routing: { audienceType: 4, audienceValue: "traced" },
        metadata: { producer: "t" },
      }),
    });
    expect(res.status).toBe(202);
    await waitFor(() => got.length === 1);
    await client.stop();

    const find = (name: string) => collector.spans.find((s) => s.name === name);
    const publish = await waitFor(() => find("publish tidings.notify.http"), 10_000, "the publish span");
    const routed = await waitFor(
      () => collector.spans.find((s) => s.name === "process tidings.notify.http" && s.traceId === publish.traceId),
      10_000,
      "the router span",
    );
    const delivered = await waitFor(() => find("process tidings.v1.node.{nodeId}"), 10_000, "the gateway span");
    expect(routed.parentSpanId).toBe(publish.spanId);
    expect(delivered.traceId).toBe(publish.traceId);
    expect(delivered.parentSpanId).toBe(routed.spanId);
    expect(new Set([publish.service, routed.service, delivered.service])).toEqual(new Set(["tidings-gateway", "tidings-router"]));
  });
});

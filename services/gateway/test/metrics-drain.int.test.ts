import { loadConfig } from "@tidings/config";
import { Registry, silentLogger } from "@tidings/observability";
import { buildClient, collect, freePort, mintToken, RawWs, TEST_JWT_SECRET, waitFor } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { createGateway, metricNames } from "../src/index.js";
import { envelope } from "./harness.js";

/** Minimal check of the Prometheus text format (0.0.4): HELP/TYPE lines and `name{labels} value` samples. */
function assertExposition(text: string): void {
  const sample = /^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="([^"\\]|\\.)*",?)*\})? (-?[0-9.e+-]+|NaN|\+Inf|-Inf)( -?\d+)?$/;
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("# HELP ") || line.startsWith("# TYPE ")) continue;
    expect(line).toMatch(sample);
  }
}

async function start(registry: Registry) {
  const port = await freePort();
  const config = loadConfig({ TIDINGS_PORT: String(port), TIDINGS_HOST: "127.0.0.1", TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET });
  const gateway = createGateway({ config, log: silentLogger(), nodeId: `m-${port}`, registry });
  await gateway.start();
  return { gateway, url: `http://127.0.0.1:${port}` };
}

describe("metrics", () => {
  it("counts connections, deliveries, bytes, disconnect reasons and hub calls in valid exposition format", async () => {
    const registry = new Registry();
    const { gateway, url } = await start(registry);
    // Before the first event, every known label value of a counter is exported at 0 (rate() and alerts need the series).
    const fresh = await registry.metrics();
    expect(fresh).toContain('tidings_gateway_ingest_notifications_total{result="unavailable"} 0');
    expect(fresh).toContain('tidings_gateway_disconnects_total{reason="slow_consumer"} 0');
    expect(fresh).toContain('tidings_gateway_connects_total{transport="LongPolling",protocol="messagepack"} 0');
    expect(fresh).toContain('tidings_gateway_hub_invocations_total{method="MarkAsRead",result="failed"} 0');
    expect(fresh).toContain('tidings_gateway_encode_failures_total{protocol="json"} 0');
    const json = buildClient(url, { token: await mintToken({ sub: "m1" }) });
    const mp = buildClient(url, { token: await mintToken({ sub: "m2" }), protocol: "messagepack" });
    const sse = buildClient(url, { token: await mintToken({ sub: "m4" }), transport: "ServerSentEvents" });
    const got = collect(json, "note");
    await json.start();
    await mp.start();
    await sse.start();
    await expect(json.invoke("Nope")).rejects.toThrow();
    await json.invoke("Subscribe", { audienceType: 3, audienceValue: "g" });
    await mp.invoke("Subscribe", { audienceType: 3, audienceValue: "g" });
    expect(gateway.deliver((await validNotification()) as never)).toBe(true);
    await waitFor(() => got.length === 1);
    const raw = await RawWs.open(`${url.replace("http", "ws")}/notifications?access_token=${await mintToken({ sub: "m3" })}`);
    raw.send('{"protocol":"json","version":1}\x1ehello\x1e');
    await raw.closed;

    const text = await registry.metrics();
    assertExposition(text);
    expect(text).toContain('tidings_gateway_connections{transport="WebSockets",protocol="json"} 1');
    expect(text).toContain('tidings_gateway_connections{transport="WebSockets",protocol="messagepack"} 1');
    expect(text).toContain('tidings_gateway_connections{transport="ServerSentEvents",protocol="json"} 1');
    expect(text).toContain('tidings_gateway_connects_total{transport="ServerSentEvents",protocol="json"} 1');
    expect(text).toContain('tidings_gateway_deliveries_total{protocol="json"} 1');
    expect(text).toContain('tidings_gateway_deliveries_total{protocol="messagepack"} 1');
    expect(text).toContain('tidings_gateway_notifications_total{result="delivered"} 1');
    expect(text).toContain('tidings_gateway_disconnects_total{reason="invalid_message"} 1');
    expect(text).toContain('tidings_gateway_hub_invocations_total{method="unknown",result="not_found"} 1');
    expect(text).toContain('tidings_gateway_hub_invocations_total{method="Subscribe",result="ok"} 2');
    expect(text).toMatch(/tidings_gateway_sent_bytes_total\{protocol="json"\} [1-9]\d+/);
    expect(text).toMatch(/tidings_gateway_fanout_duration_seconds_count 1/);
    // The encode histogram is per receiving protocol.
    expect(text).toMatch(/tidings_gateway_encode_duration_seconds_count\{protocol="json"\} 1/);
    expect(text).toMatch(/tidings_gateway_encode_duration_seconds_count\{protocol="messagepack"\} 1/);
    for (const name of metricNames()) expect(text).toContain(`# TYPE ${name} `);

    await json.stop();
    await mp.stop();
    await sse.stop();
    await gateway.stop(0);
  });
});

describe("drain", () => {
  it("turns readiness off, refuses new connections, and closes existing ones with allowReconnect spread over the window", async () => {
    const { gateway, url } = await start(new Registry());
    const token = await mintToken({ sub: "d" });
    const closedAt: number[] = [];
    const raws = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const ws = await RawWs.open(`${url.replace("http", "ws")}/notifications?access_token=${token}`);
        ws.send('{"protocol":"json","version":1}\x1e');
        void ws.closed.then(() => closedAt.push(Date.now()));
        return ws;
      }),
    );
    await waitFor(() => raws.every((r) => r.frames.length >= 1));
    const started = Date.now();
    const stopped = gateway.stop(1500);
    expect(gateway.ready).toBe(false);
    expect((await fetch(`${url}/readyz`)).status).toBe(503);
    expect((await fetch(`${url}/notifications/negotiate`, { method: "POST", headers: { authorization: `Bearer ${token}` } })).status).toBe(
      503,
    );
    await stopped;
    expect(closedAt).toHaveLength(20);
    for (const r of raws) expect(r.frames.at(-1)!.data.toString()).toBe('{"type":7,"allowReconnect":true}\x1e');
    const spread = Math.max(...closedAt) - Math.min(...closedAt);
    expect(spread).toBeGreaterThan(300); // jittered, not one herd
    expect(Math.max(...closedAt) - started).toBeLessThan(3500);
  });
});

async function validNotification() {
  const { validateEnvelope } = await import("@tidings/contracts");
  const r = validateEnvelope(envelope(3, "g"), { now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("bad test envelope");
  return r.notification;
}

import { afterEach, describe, expect, it } from "vitest";
import { Counter, createRegistry } from "./metrics.js";
import { startMetricsServer, type MetricsServer } from "./metrics-server.js";

let server: MetricsServer | undefined;
afterEach(async () => {
  await server?.close();
});

describe("metrics server", () => {
  it("serves the exposition, liveness and readiness with the reason", async () => {
    const registry = createRegistry({ node: "n1", build: { version: "1.2.3", revision: "abc123" } });
    new Counter({ name: "tidings_test_things_total", help: "things", registers: [registry] }).inc(3);
    let ready = true;
    server = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      registry,
      health: { live: () => true, ready: () => (ready ? { ready: true } : { ready: false, reason: "draining" }) },
    });
    const base = `http://127.0.0.1:${server.port}`;
    const text = await (await fetch(`${base}/metrics`)).text();
    expect(text).toContain("tidings_test_things_total 3");
    // Process metrics under their standard names, so stock Node.js dashboards work.
    expect(text).toMatch(/^nodejs_eventloop_lag_p99_seconds /m);
    expect(text).toMatch(/^process_cpu_seconds_total /m);
    expect(text).toContain('tidings_build_info{version="1.2.3",revision="abc123",node="n1"} 1');
    // Counters with a known label set are exported at 0 before their first event.
    expect(text).toContain('tidings_unexpected_errors_total{source="unhandled_rejection"} 0');
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    ready = false;
    const notReady = await fetch(`${base}/readyz`);
    expect(notReady.status).toBe(503);
    expect(await notReady.json()).toEqual({ error: "not_ready", message: "draining" });
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });
});

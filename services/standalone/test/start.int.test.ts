import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { buildClient, collect, freePort, waitFor } from "@tidings/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { freshDataDir, killGroup, spawnTidings } from "./process.js";

const children: ChildProcessWithoutNullStreams[] = [];

/** Starts the standalone process exactly as `pnpm start` does (tsx --single-threaded-gc src/main.ts --dev). */
function start(env: Record<string, string>) {
  const proc = spawnTidings(env, { cli: true });
  children.push(proc.child);
  return proc;
}

afterEach(() => {
  // The whole group: the tsx CLI and the node process it runs (a failed test must not leave Tidings running).
  for (const c of children.splice(0)) killGroup(c);
});

describe("standalone - pnpm start", () => {
  it("serves /notifications and /api/notifications with nothing else installed, exposes metrics, and drains on SIGTERM", async () => {
    const port = await freePort();
    const metricsPort = await freePort();
    const proc = start({
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_METRICS_PORT: String(metricsPort),
      TIDINGS_DRAIN_SECONDS: "1",
      TIDINGS_DATA_DIR: freshDataDir(),
    });
    // Embedded PostgreSQL start-up is what takes long on a loaded machine; it is not what this test measures.
    await waitFor(() => proc.output().includes("listening"), 60_000, "the listening log line");
    const url = `http://127.0.0.1:${port}`;

    const client = buildClient(url); // anonymous: --dev allows it when no auth is configured
    const got = collect<{ id: string; body: unknown }>(client, "invoice-ready");
    const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
    await client.start();
    const res = await fetch(`${url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        id: "inv-1",
        type: "invoice-ready",
        body: { amount: 3 },
        routing: { audienceType: 1 },
        metadata: { producer: "curl" },
      }),
    });
    expect(res.status).toBe(202);
    await waitFor(() => got.length === 1, 5000, "the notification");
    expect(got[0]).toMatchObject({ id: "inv-1", body: { amount: 3 } });

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toContain('tidings_gateway_connections{transport="WebSockets",protocol="json"} 1');
    expect(metrics).toContain('tidings_gateway_deliveries_total{protocol="json"} 1');
    expect(metrics).toMatch(/^process_cpu_seconds_total \d/m);
    expect(metrics).toMatch(/^tidings_build_info\{version="dev",revision="unknown",node="[^"]+"\} 1$/m);
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(200);

    proc.child.kill("SIGTERM");
    await waitFor(() => proc.output().includes("draining"), 5000, "the drain log line");
    expect((await fetch(`http://127.0.0.1:${metricsPort}/readyz`)).status).toBe(503);
    expect(await proc.exited).toBe(0);
    expect(await closed).toBeUndefined(); // Close with allowReconnect and no error: a clean end for the client
  });

  it("refuses to start on the uWebSockets.js JS fallback", async () => {
    const proc = start({ TIDINGS_PORT: String(await freePort()), UWS_USE_FALLBACK: "1" });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("native uWebSockets.js");
  });

  it("lists every bad setting and exits 1", async () => {
    const proc = start({ TIDINGS_PORT: "80a", TIDINGS_KEEPALIVE_SECONDS: "-1", TIDINGS_PROT: "1" });
    expect(await proc.exited).toBe(1);
    const out = proc.output();
    expect(out).toContain('TIDINGS_PORT="80a"');
    expect(out).toContain("TIDINGS_KEEPALIVE_SECONDS");
    expect(out).toContain("TIDINGS_PROT");
  });
});

import { buildClient, collect, freePort, mintToken, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

let gw: TestGateway;
let apiUrl: string;

beforeAll(async () => {
  const apiPort = await freePort();
  gw = await startGateway({ TIDINGS_API_PORT: String(apiPort) });
  apiUrl = `http://127.0.0.1:${apiPort}`;
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const post = (base: string, body: unknown) =>
  fetch(`${base}/api/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

describe("TIDINGS_API_PORT: producer and read APIs on a listener of their own", () => {
  it("accepts ingest only on the API port and delivers it to hub clients on the main port", async () => {
    const token = await mintToken({ sub: "api-port-user" });
    const client = buildClient(gw.url, { token });
    const got = collect<{ id: string }>(client, "note");
    await client.start();
    try {
      const onMain = await post(gw.url, [envelope(4, "api-port-user")]);
      expect(onMain.status).toBe(404);
      expect(((await onMain.json()) as { error: string }).error).toBe("not_found");
      const n = envelope(4, "api-port-user");
      const onApi = await post(apiUrl, [n]);
      expect(onApi.status).toBe(202);
      await waitFor(() => got.some((m) => m.id === n.id), 5000, "delivery of the API-port notification");
    } finally {
      await client.stop();
    }
  });

  it("serves the read API on the API port only, and the hub on the main port only", async () => {
    const token = await mintToken({ sub: "api-port-reader" });
    const read = (base: string) => fetch(`${base}/api/me/notifications`, { headers: { authorization: `Bearer ${token}` } });
    // This harness has no store: the read API itself answers 503, where the main port has no such endpoint.
    expect((await read(apiUrl)).status).toBe(503);
    expect((await read(gw.url)).status).toBe(404);
    const negotiate = (base: string) =>
      fetch(`${base}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect((await negotiate(gw.url)).status).toBe(200);
    expect((await negotiate(apiUrl)).status).toBe(404);
  });

  it("answers /healthz and /readyz on both listeners", async () => {
    for (const base of [gw.url, apiUrl]) {
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
      expect((await fetch(`${base}/readyz`)).status).toBe(200);
    }
  });

  it("with the default API port 0 keeps ingest on the main port", async () => {
    const plain = await startGateway();
    try {
      expect((await post(plain.url, [envelope(1, undefined)])).status).toBe(202);
    } finally {
      await plain[Symbol.asyncDispose]();
    }
  });

  it("refuses to start when the API port is taken, releasing the main port", async () => {
    await expect(startGateway({ TIDINGS_API_PORT: new URL(gw.url).port })).rejects.toThrow(/cannot listen/);
  });
});

import { mintToken, RawWs } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

let gw: TestGateway;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  gw = await startGateway({ TIDINGS_CORS_ORIGINS: "https://app.example" });
  token = await mintToken({ sub: "http-user" });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const negotiate = (query = "", headers: Record<string, string> = auth(), method = "POST") =>
  fetch(`${gw.url}/notifications/negotiate${query}`, { method, headers });

describe("negotiate", () => {
  it("W-NEG-01 version 1: exact keys, distinct url-safe id and token, transports", async () => {
    const res = await negotiate("?negotiateVersion=1");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/json");
    const body = (await res.json()) as Record<string, unknown>;
    expect(Object.keys(body)).toEqual(["negotiateVersion", "connectionId", "connectionToken", "availableTransports"]);
    expect(body["negotiateVersion"]).toBe(1);
    expect(body["connectionId"]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(body["connectionToken"]).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(body["connectionToken"]).not.toBe(body["connectionId"]);
    expect(body["availableTransports"]).toEqual([
      { transport: "WebSockets", transferFormats: ["Text", "Binary"] },
      { transport: "ServerSentEvents", transferFormats: ["Text"] },
      { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
    ]);
  });

  it("W-NEG-02 version 0 without negotiateVersion; 5 answers version 1", async () => {
    const v0 = (await (await negotiate()).json()) as Record<string, unknown>;
    expect(v0["negotiateVersion"]).toBe(0);
    expect(v0).not.toHaveProperty("connectionToken");
    const v5 = (await (await negotiate("?negotiateVersion=5")).json()) as Record<string, unknown>;
    expect(v5["negotiateVersion"]).toBe(1);
  });

  it("W-NEG-02 a version-0 id works on the WebSocket upgrade", async () => {
    const { connectionId } = (await (await negotiate()).json()) as { connectionId: string };
    const ws = await RawWs.open(`${gw.url.replace("http", "ws")}/notifications?id=${connectionId}`, auth());
    ws.send('{"protocol":"json","version":1}\x1e');
    await new Promise((r) => setTimeout(r, 100));
    expect(ws.text()).toBe("{}\x1e");
    ws.close();
  });

  it("W-NEG-03 bad versions → 200 with only an error key", async () => {
    expect(await (await negotiate("?negotiateVersion=abc")).json()).toEqual({
      error: "The client requested a non-integer protocol version.",
    });
    expect(await (await negotiate("?negotiateVersion=-1")).json()).toEqual({
      error: "The client requested version '-1', but the server does not support this version.",
    });
  });

  it("W-NEG-04 wrong method → 405; trailing slash and case-insensitive path; body ignored; CORS preflight", async () => {
    expect((await negotiate("", auth(), "GET")).status).toBe(405);
    expect((await negotiate("", auth(), "PUT")).status).toBe(405);
    const odd = await fetch(`${gw.url}/Notifications/Negotiate/?negotiateVersion=1`, {
      method: "POST",
      headers: { ...auth(), "content-type": "application/json" },
      body: '{"x":1}',
    });
    expect(odd.status).toBe(200);
    const pre = await fetch(`${gw.url}/notifications/negotiate`, { method: "OPTIONS", headers: { origin: "https://app.example" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe("https://app.example");
    expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
  });

  it("W-NEG-06 no credential → 401 with WWW-Authenticate; query token and header both work; bad and expired tokens → 401", async () => {
    const none = await negotiate("", {});
    expect(none.status).toBe(401);
    expect(none.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    expect(await none.text()).toBe("");
    expect((await negotiate(`?access_token=${token}`, {})).status).toBe(200);
    expect((await negotiate("", { authorization: "Bearer not.a.jwt" })).status).toBe(401);
    const expired = await negotiate("", { authorization: `Bearer ${await mintToken({ sub: "x", expiresIn: -120 })}` });
    expect(expired.status).toBe(401);
    expect(expired.headers.get("www-authenticate")).toContain('error_description="token expired"');
    const forged = await mintToken({ sub: "x" }, "another-secret-that-is-32-characters-long!");
    expect((await negotiate("", { authorization: `Bearer ${forged}` })).status).toBe(401);
    const noSub = await mintToken({ tenant_id: "a" });
    expect((await negotiate("", { authorization: `Bearer ${noSub}` })).status).toBe(401);
    const refused = await RawWs.refused(`${gw.url.replace("http", "ws")}/notifications`);
    expect(refused.status).toBe(401);
  });

  it("W-NEG-07 a version-1 connectionId is not a valid id; W-WS-02 unknown id → 404 before upgrade", async () => {
    const { connectionId } = (await (await negotiate("?negotiateVersion=1")).json()) as { connectionId: string };
    const base = `${gw.url.replace("http", "ws")}/notifications`;
    for (const id of [connectionId, "unknown", "x".repeat(10_000), "%00%FF"]) {
      const r = await RawWs.refused(`${base}?id=${id}`, auth());
      expect(r.status).toBe(404);
      expect(r.body).toBe("No Connection with that ID");
    }
  });

  it("W-WS-03 a second upgrade on an active connection → 409; W-POST-02 POST to a WebSocket connection → 405", async () => {
    const { connectionToken } = (await (await negotiate("?negotiateVersion=1")).json()) as { connectionToken: string };
    const url = `${gw.url.replace("http", "ws")}/notifications?id=${connectionToken}`;
    const first = await RawWs.open(url, auth());
    expect((await RawWs.refused(url, auth())).status).toBe(409);
    const post = await fetch(`${gw.url}/notifications?id=${connectionToken}`, { method: "POST", headers: auth(), body: "x" });
    expect(post.status).toBe(405);
    expect(await post.text()).toBe("POST requests are not allowed for WebSocket connections.");
    const del = await fetch(`${gw.url}/notifications?id=${connectionToken}`, { method: "DELETE", headers: auth() });
    expect(del.status).toBe(400);
    expect((await fetch(`${gw.url}/notifications`, { method: "POST", headers: auth() })).status).toBe(400);
    first.close();
  });

  it("the upgrade must come from the negotiating user: another user's valid token gets 403", async () => {
    const { connectionToken } = (await (await negotiate("?negotiateVersion=1")).json()) as { connectionToken: string };
    const other = await mintToken({ sub: "someone-else" });
    const r = await RawWs.refused(`${gw.url.replace("http", "ws")}/notifications?id=${connectionToken}`, {
      authorization: `Bearer ${other}`,
    });
    expect(r.status).toBe(403);
  });

  it("429 when a user exceeds TIDINGS_MAX_CONNECTIONS_PER_USER", async () => {
    await using small = await startGateway({ TIDINGS_MAX_CONNECTIONS_PER_USER: "2" });
    const t = await mintToken({ sub: "greedy" });
    const post = () => fetch(`${small.url}/notifications/negotiate`, { method: "POST", headers: { authorization: `Bearer ${t}` } });
    expect((await post()).status).toBe(200);
    expect((await post()).status).toBe(200);
    const third = await post();
    expect(third.status).toBe(429);
    expect(third.statusText).toBe("Too Many Requests");
  });
});

describe("POST /api/notifications", () => {
  it("accepts one envelope or an array with 202 and the ids", async () => {
    const one = envelope(1, undefined);
    const res = await gw.publish(one);
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 1, ids: [one.id] });
    const many = [envelope(1, undefined), envelope(3, "g")];
    expect(await (await gw.publish(many)).json()).toEqual({ accepted: 2, ids: many.map((e) => e.id) });
  });

  it("refuses an invalid batch with 400 listing every problem, accepting nothing", async () => {
    const res = await gw.publish([
      envelope(1, undefined),
      { id: "", type: "EventReadStatusChange", routing: { audienceType: 7 }, metadata: {} },
    ]);
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: string; message: string; problems: Array<{ index: number; path: string }> };
    expect(body.error).toBe("invalid_notification");
    expect(body.problems.map((p) => `${p.index}:${p.path}`)).toEqual(
      expect.arrayContaining(["1:id", "1:type", "1:routing.audienceType", "1:metadata.producer"]),
    );
    expect(body.problems.every((p) => p.index === 1)).toBe(true);
  });

  it("415 without JSON, 400 on bad JSON, 405 on GET, 413 over 4 MiB", async () => {
    expect(
      (await fetch(`${gw.url}/api/notifications`, { method: "POST", headers: { "content-type": "text/plain" }, body: "{}" })).status,
    ).toBe(415);
    const bad = await fetch(`${gw.url}/api/notifications`, { method: "POST", headers: { "content-type": "application/json" }, body: "{" });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toBe("invalid_json");
    expect((await fetch(`${gw.url}/api/notifications`)).status).toBe(405);
    const big = await fetch(`${gw.url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([{ pad: "x".repeat(4 * 1024 * 1024) }]),
    });
    expect(big.status).toBe(413);
  });

  it("requires a producer key when TIDINGS_INGEST_KEYS is set", async () => {
    await using keyed = await startGateway({ TIDINGS_INGEST_KEYS: "k-one,k-two" });
    expect((await keyed.publish([envelope(1, undefined)])).status).toBe(401);
    expect((await keyed.publish([envelope(1, undefined)], { authorization: "Bearer wrong" })).status).toBe(401);
    expect((await keyed.publish([envelope(1, undefined)], { authorization: "Bearer k-two" })).status).toBe(202);
  });

  it("health endpoints answer; unknown paths get a JSON 404", async () => {
    expect(await (await fetch(`${gw.url}/healthz`)).json()).toEqual({ status: "ok" });
    expect((await fetch(`${gw.url}/readyz`)).status).toBe(200);
    const nf = await fetch(`${gw.url}/nope`);
    expect(nf.status).toBe(404);
    expect(((await nf.json()) as { error: string }).error).toBe("not_found");
  });
});

describe("listen", () => {
  it("a second gateway on a port in use refuses to start (no SO_REUSEPORT sharing of one connection's requests)", async () => {
    await expect(startGateway({ TIDINGS_PORT: String(gw.port) })).rejects.toThrow(/cannot listen/);
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });
});

import { createServer, request, type Server } from "node:http";
import { connect } from "node:net";
import type { AddressInfo } from "node:net";
import { encode as encodeMsgpack } from "@msgpack/msgpack";
import type { HubConnection } from "@microsoft/signalr";
import { loadConfig } from "@tidings/config";
import { GLOBAL_AUDIENCE, toDelivered, validateEnvelope, type Notification, type NotificationStore } from "@tidings/contracts";
import { Registry, silentLogger, unexpectedErrors } from "@tidings/observability";
import { buildClient, collect, freePort, mintToken, RawWs, TEST_JWT_SECRET, waitFor } from "@tidings/testkit";
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from "jose";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/index.js";
import { envelope, startGateway, type TestGateway } from "./harness.js";

function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

/** A notification as it would have been stored before ingest refused deep bodies: MessagePack cannot encode it (depth > 100). */
function unencodable(id: string): Notification {
  const r = validateEnvelope(envelope(1, undefined, { id }), { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("fixture envelope invalid");
  return { ...r.notification, body: nestedArrays(120) };
}

function encodable(id: string): Notification {
  const r = validateEnvelope(envelope(1, undefined, { id }), { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("fixture envelope invalid");
  return r.notification;
}

async function counter(registry: Registry, name: string, labels: Record<string, string>): Promise<number> {
  const metric = (await registry.getMetricsAsJSON()).find((m) => m.name === name);
  const values = (metric?.values ?? []) as Array<{ value: number; labels: Record<string, string | number> }>;
  return values.filter((v) => Object.entries(labels).every(([k, val]) => v.labels[k] === val)).reduce((sum, v) => sum + v.value, 0);
}

const clients: HubConnection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
});

describe("finding 1: a notification one protocol cannot encode", () => {
  let gateway: Gateway;
  let url: string;
  const registry = new Registry();
  beforeAll(async () => {
    const port = await freePort();
    // A store that replays what an older version accepted: an unencodable notification before a good one.
    const stored = [toDelivered(unencodable("poison-stored"), false), toDelivered(encodable("good-stored"), false)];
    const store = {
      replay: async (q: { audiences: readonly string[] }) => (q.audiences.includes(GLOBAL_AUDIENCE) ? stored : []),
      listForUser: async () => {
        throw new Error("store bug");
      },
    } as unknown as NotificationStore;
    gateway = createGateway({
      config: loadConfig({ TIDINGS_PORT: String(port), TIDINGS_HOST: "127.0.0.1", TIDINGS_AUTH_ANONYMOUS: "true" }),
      log: silentLogger(),
      nodeId: `harden-${port}`,
      registry,
      store,
    });
    await gateway.start();
    url = `http://127.0.0.1:${port}`;
  });
  afterAll(() => gateway.stop(0));

  it("finding 1: poison notification in the on-connect replay is skipped for MessagePack; the connection and the process stay up", async () => {
    const mp = buildClient(url, { protocol: "messagepack" });
    clients.push(mp);
    const received = collect<{ id: string }>(mp, "note");
    await mp.start();
    await waitFor(() => received.length === 1, 5000, "the encodable stored notification");
    expect(received.map((n) => n.id)).toEqual(["good-stored"]);
    expect(await counter(registry, "tidings_gateway_encode_failures_total", { protocol: "messagepack" })).toBeGreaterThanOrEqual(1);
    // Still connected and served: a hub call answers, a later notification arrives.
    await mp.invoke("Subscribe", { audienceType: 3, audienceValue: "g1" });
    gateway.deliver(encodable("after-replay"));
    await waitFor(() => received.length === 2, 5000, "a live notification after the replay");
    expect(mp.state).toBe("Connected");
  });

  it("finding 1: poison notification in live fan-out reaches JSON clients, is skipped for MessagePack, and fan-out goes on", async () => {
    const mp = buildClient(url, { protocol: "messagepack" });
    const json = buildClient(url);
    clients.push(mp, json);
    const toMp = collect<{ id: string }>(mp, "note");
    const toJson = collect<{ id: string }>(json, "note");
    await Promise.all([mp.start(), json.start()]);
    // JSON encodes the stored poison notification; MessagePack skips it.
    await waitFor(() => toMp.length === 1 && toJson.length === 2, 5000, "the replay of both clients");
    const before = await counter(registry, "tidings_gateway_encode_failures_total", { protocol: "messagepack" });
    expect(gateway.deliver(unencodable("poison-live"))).toBe(true);
    gateway.deliver(encodable("good-live"));
    await waitFor(() => toJson.length === 4 && toMp.length === 2, 5000, "live deliveries");
    expect(toJson.map((n) => n.id).slice(2)).toEqual(["poison-live", "good-live"]);
    expect(toMp.map((n) => n.id).slice(1)).toEqual(["good-live"]);
    expect(await counter(registry, "tidings_gateway_encode_failures_total", { protocol: "messagepack" })).toBe(before + 1);
    expect(mp.state).toBe("Connected");
  });

  it("an unexpected error in a request handler answers 500 with the error body, is counted, and the node keeps serving", async () => {
    const before = (await unexpectedErrors.get()).values.find((v) => v.labels.source === "http")?.value ?? 0;
    const res = await fetch(`${url}/api/users/u1/notifications`);
    expect(res.status).toBe(500);
    expect(await res.json()).toEqual({ error: "internal", message: "An unexpected error occurred." });
    expect((await unexpectedErrors.get()).values.find((v) => v.labels.source === "http")?.value).toBe(before + 1);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
  });
});

/** A raw HTTP/1.1 exchange, so that what the server wrote on the wire is seen as is (no client-side header parsing). */
function rawExchange(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1", () => socket.write(head));
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => {
      data += chunk;
      if (data.includes("\r\n\r\n")) socket.destroy();
    });
    socket.on("close", () => resolve(data));
    socket.on("error", reject);
  });
}

/** An HTTP request with a chosen Host header (fetch does not let a caller set it). */
function withHost(
  url: string,
  method: string,
  host: string,
  headers: Record<string, string> = {},
  body?: Uint8Array | string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, host } }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c: string) => (text += c));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("error", reject);
    req.end(body);
  });
}

describe("finding 2 and 4: the producer endpoints", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway();
  });
  afterAll(() => gw[Symbol.asyncDispose]());

  it("finding 2: a user id that is not valid percent-encoding answers 400 and the node keeps serving", async () => {
    const res = await fetch(`${gw.url}/api/users/%E0%A4%A/notifications`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_path");
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it("a body of millions of nested arrays, JSON or MessagePack, is refused before parsing with one batch-level problem", async () => {
    const bodies: Array<[string, Uint8Array]> = [
      ["application/json", new TextEncoder().encode("[".repeat(2_000_000) + "]".repeat(2_000_000))],
      ["application/msgpack", Uint8Array.from({ length: 4_000_001 }, (_, i) => (i === 4_000_000 ? 0xc0 : 0x91))],
    ];
    for (const [contentType, body] of bodies) {
      const res = await fetch(`${gw.url}/api/notifications`, { method: "POST", headers: { "content-type": contentType }, body });
      expect(res.status, contentType).toBe(400);
      expect(((await res.json()) as { problems: unknown[] }).problems, contentType).toEqual([
        { index: -1, path: "", message: "must nest at most 66 levels deep" },
      ]);
    }
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
  });

  it("finding 4: a text/plain body that mentions application/json is refused with 415; only JSON and MessagePack media types are taken", async () => {
    const post = (contentType: string, body: string | Uint8Array) =>
      fetch(`${gw.url}/api/notifications`, { method: "POST", headers: { "content-type": contentType }, body });
    const json = JSON.stringify(envelope(1, undefined));
    for (const contentType of [
      "text/plain; charset=application/json",
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/jsonp",
      "multipart/form-data; boundary=application/json",
    ]) {
      expect((await post(contentType, json)).status, contentType).toBe(415);
    }
    expect((await post("application/json; charset=utf-8", json)).status).toBe(202);
    expect((await post("Application/JSON", json)).status).toBe(202);
    const packed = await post("application/msgpack", encodeMsgpack([envelope(1, undefined), envelope(3, "g")]));
    expect(packed.status).toBe(202);
    expect(((await packed.json()) as { accepted: number }).accepted).toBe(2);
    const garbage = await post("application/msgpack", Uint8Array.of(0xc1));
    expect(garbage.status).toBe(400);
    expect(((await garbage.json()) as { error: string }).error).toBe("invalid_msgpack");
  });

  it("finding 4: without producer keys, ingest and the read API refuse a Host that is not loopback (DNS rebinding) with 403", async () => {
    const body = JSON.stringify(envelope(1, undefined));
    const json = { "content-type": "application/json" };
    for (const host of ["rebound.example", `rebound.example:${gw.port}`, "127.0.0.1.nip.io", "localhost.example"]) {
      const ingest = await withHost(`${gw.url}/api/notifications`, "POST", host, json, body);
      expect(ingest.status, host).toBe(403);
      expect((JSON.parse(ingest.body) as { error: string }).error).toBe("forbidden");
      expect((await withHost(`${gw.url}/api/users/u1/notifications`, "GET", host)).status, host).toBe(403);
    }
    for (const host of [`localhost:${gw.port}`, "localhost", `127.0.0.1:${gw.port}`, "127.1.2.3", `[::1]:${gw.port}`, "LOCALHOST"]) {
      expect((await withHost(`${gw.url}/api/notifications`, "POST", host, json, body)).status, host).toBe(202);
    }
  });

  it("finding 4: with producer keys the key is the credential and any Host is served", async () => {
    await using keyed = await startGateway({ TIDINGS_INGEST_KEYS: "k-one" });
    const res = await withHost(
      `${keyed.url}/api/notifications`,
      "POST",
      "tidings.example.com",
      { "content-type": "application/json", authorization: "Bearer k-one" },
      JSON.stringify(envelope(1, undefined)),
    );
    expect(res.status).toBe(202);
  });
});

describe("finding 3: a JWKS-verified token cannot write response headers", () => {
  let jwks: Server;
  let gw: TestGateway;
  let jwksHits = 0;
  let signingKey: CryptoKey;
  beforeAll(async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    signingKey = privateKey;
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    jwks = createServer((_req, res) => {
      jwksHits++;
      res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwks.listen(0, "127.0.0.1", resolve));
    const jwksUrl = `http://127.0.0.1:${(jwks.address() as AddressInfo).port}/jwks.json`;
    gw = await startGateway({ TIDINGS_AUTH_JWT_SECRET: "", TIDINGS_AUTH_JWKS_URL: jwksUrl });
  });
  afterAll(async () => {
    await gw[Symbol.asyncDispose]();
    await new Promise((resolve) => jwks.close(resolve));
  });

  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString("base64url");

  it("finding 3: CR/LF in a crit name is not reflected; WWW-Authenticate is one fixed, bounded line", async () => {
    const injected = "x\r\nSet-Cookie: planted=1\r\nX-Injected: yes";
    const token = `${b64({ alg: "ES256", kid: "k1", crit: [injected], [injected]: true })}.${b64({ sub: "u1" })}.${"A".repeat(86)}`;
    const raw = await rawExchange(
      gw.port,
      `POST /notifications/negotiate?negotiateVersion=1 HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${token}\r\nContent-Length: 0\r\n\r\n`,
    );
    const head = raw.slice(0, raw.indexOf("\r\n\r\n"));
    const lines = head.split("\r\n");
    expect(lines[0]).toBe("HTTP/1.1 401 Unauthorized");
    expect(head).not.toMatch(/set-cookie|x-injected|planted/i);
    const challenges = lines.filter((l) => l.toLowerCase().startsWith("www-authenticate:"));
    expect(challenges).toEqual(['WWW-Authenticate: Bearer error="invalid_token", error_description="token uses an unsupported feature"']);
    // The same through the access_token query parameter, on the read API and on a WebSocket upgrade.
    const viaQuery = await rawExchange(
      gw.port,
      `GET /api/me/notifications?access_token=${encodeURIComponent(token)} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    expect(viaQuery.slice(0, viaQuery.indexOf("\r\n\r\n"))).not.toMatch(/set-cookie|x-injected|planted/i);
    const upgrade = await RawWs.refused(`${gw.url.replace("http", "ws")}/notifications?access_token=${encodeURIComponent(token)}`);
    expect(upgrade.status).toBe(401);
    expect(upgrade.headers["set-cookie"]).toBeUndefined();
  });

  it("finding 3: a token signed with the JWKS key is accepted; one signed with another key gets a fixed reason", async () => {
    const sign = (key: CryptoKey) =>
      new SignJWT({ sub: "u1" }).setProtectedHeader({ alg: "ES256", kid: "k1" }).setExpirationTime("1h").sign(key);
    const post = async (token: string) =>
      fetch(`${gw.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect((await post(await sign(signingKey))).status).toBe(200);
    expect(jwksHits).toBeGreaterThan(0);
    const foreign = await post(await sign((await generateKeyPair("ES256")).privateKey));
    expect(foreign.status).toBe(401);
    expect(foreign.headers.get("www-authenticate")).toBe('Bearer error="invalid_token", error_description="signature verification failed"');
  });
});

describe("finding 7 and 8: credentials", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ TIDINGS_AUTH_ANONYMOUS: "true" });
  });
  afterAll(() => gw[Symbol.asyncDispose]());

  const negotiate = (headers: Record<string, string>, query = "") =>
    fetch(`${gw.url}/notifications/negotiate?negotiateVersion=1${query}`, { method: "POST", headers });

  it("finding 7: in anonymous mode a Basic, empty or malformed Bearer, or empty access_token is refused with 401, not taken as anonymous", async () => {
    expect((await negotiate({})).status).toBe(200); // no credential at all: anonymous
    for (const authorization of ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Bearer a b", "Token abc", "bearer-abc"]) {
      const res = await negotiate({ authorization });
      expect(res.status, authorization).toBe(401);
      expect(res.headers.get("www-authenticate"), authorization).toMatch(/^Bearer error="invalid_token"/);
    }
    expect((await negotiate({}, "&access_token=")).status).toBe(401);
    expect((await negotiate({ authorization: "Bearer not-a-jwt" })).status).toBe(401);
    const ws = gw.url.replace("http", "ws");
    expect((await RawWs.refused(`${ws}/notifications`, { authorization: "Basic dXNlcjpwYXNz" })).status).toBe(401);
    expect((await RawWs.refused(`${ws}/notifications?access_token=`)).status).toBe(401);
    const { connectionToken } = (await (await negotiate({})).json()) as { connectionToken: string };
    const sse = await fetch(`${gw.url}/notifications?id=${connectionToken}`, {
      headers: { authorization: "Basic dXNlcjpwYXNz", accept: "text/event-stream" },
    });
    expect(sse.status).toBe(401);
    expect((await fetch(`${gw.url}/api/me/notifications`, { headers: { authorization: "Bearer" } })).status).toBe(401);
  });

  it("finding 8: a transport request on a connection with another user's valid token gets 403 on WebSockets, SSE and long polling", async () => {
    const alice = await mintToken({ sub: "alice" }, TEST_JWT_SECRET);
    const bob = await mintToken({ sub: "bob" }, TEST_JWT_SECRET);
    const tokenOf = async () =>
      ((await (await negotiate({ authorization: `Bearer ${alice}` })).json()) as { connectionToken: string }).connectionToken;
    const ws = await RawWs.refused(`${gw.url.replace("http", "ws")}/notifications?id=${await tokenOf()}`, {
      authorization: `Bearer ${bob}`,
    });
    expect(ws.status).toBe(403);
    const sse = await fetch(`${gw.url}/notifications?id=${await tokenOf()}`, {
      headers: { authorization: `Bearer ${bob}`, accept: "text/event-stream" },
    });
    expect(sse.status).toBe(403);
    const poll = await fetch(`${gw.url}/notifications?id=${await tokenOf()}&_=1`, { headers: { authorization: `Bearer ${bob}` } });
    expect(poll.status).toBe(403);
    // Without any credential the request is anonymous, not another user: 401.
    expect((await RawWs.refused(`${gw.url.replace("http", "ws")}/notifications?id=${await tokenOf()}`)).status).toBe(401);
    // The negotiating user itself is accepted.
    const own = buildClient(gw.url, { token: alice });
    clients.push(own);
    await own.start();
    expect(own.state).toBe("Connected");
  });
});

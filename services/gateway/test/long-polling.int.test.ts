import { request as httpRequest } from "node:http";
import { mintToken, RawWs, sleep } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";
import { JSON_HANDSHAKE, negotiate, request, RS, SseStream } from "./http-transports.js";

let gw: TestGateway;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  gw = await startGateway();
  token = await mintToken({ sub: "lp-user" });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const hubUrl = (base: string, id: string) => `${base}/notifications?id=${id}`;
const pollOnce = (url: string, headers: Record<string, string> = auth()) => request(`${url}&_=${Date.now()}`, { headers });
const post = (url: string, body: string, headers: Record<string, string> = auth()) => request(url, { method: "POST", headers, body });
const del = (url: string, headers: Record<string, string> = auth()) => request(url, { method: "DELETE", headers });

/** Negotiate, first poll, POST the JSON handshake, and take `{}␞` from the next poll. */
async function handshaken(base = gw.url): Promise<string> {
  const { id } = await negotiate(base, auth());
  const url = hubUrl(base, id);
  expect((await pollOnce(url)).status).toBe(200);
  expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
  const answer = await pollOnce(url);
  expect(answer.body).toBe(`{}${RS}`);
  return url;
}

const records = (body: string) => body.split(RS).filter((r) => r !== "");

describe("long polling", () => {
  it("W-LP-01 the first poll is answered at once: 200, application/octet-stream, Content-Length 0, no-cache headers", async () => {
    const { id } = await negotiate(gw.url, auth());
    const first = await pollOnce(hubUrl(gw.url, id));
    expect(first.status).toBe(200);
    expect(first.ms).toBeLessThan(1000);
    expect(first.headers.get("content-type")).toBe("application/octet-stream");
    expect(first.headers.get("content-length")).toBe("0");
    expect(first.headers.get("cache-control")).toBe("no-cache, no-store");
    expect(first.headers.get("pragma")).toBe("no-cache");
    expect(first.headers.get("expires")).toBe("Thu, 01 Jan 1970 00:00:00 GMT");
    expect(first.body).toBe("");
  });

  it("W-LP-02 a handshake POSTed, then three notifications published before the next poll → one 200 with `{}␞` and all three", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    expect((await pollOnce(url)).status).toBe(200);
    expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
    const sent = [envelope(4, "lp-user"), envelope(4, "lp-user"), envelope(1, undefined)];
    expect((await gw.publish(sent)).status).toBe(202);
    const answer = await pollOnce(url);
    expect(answer.status).toBe(200);
    expect(answer.headers.get("content-type")).toBe("application/octet-stream");
    expect(answer.headers.get("cache-control")).toBe("no-cache, no-store");
    const got = records(answer.body);
    expect(got[0]).toBe("{}");
    expect(got.slice(1).map((r) => (JSON.parse(r) as { arguments: Array<{ id: string }> }).arguments[0]!.id)).toEqual(
      sent.map((e) => e.id),
    );
  });

  it("W-LP-03 (TIDINGS_LONG_POLL_TIMEOUT_SECONDS=2) an idle poll ends after ≈2 s with an empty 200 text/plain; the next poll still delivers", async () => {
    await using short = await startGateway({ TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "2" });
    const url = await handshaken(short.url);
    const idle = await pollOnce(url);
    expect(idle.status).toBe(200);
    expect(idle.ms).toBeGreaterThanOrEqual(1900);
    expect(idle.ms).toBeLessThan(3000);
    expect(idle.headers.get("content-type")).toBe("text/plain");
    expect(idle.headers.get("content-length")).toBe("0");
    const next = pollOnce(url);
    await sleep(200);
    const e = envelope(4, "lp-user");
    expect((await short.publish([e])).status).toBe(202);
    const answer = await next;
    expect(answer.status).toBe(200);
    expect(answer.ms).toBeLessThan(1000);
    expect(answer.body).toContain(`"id":"${e.id}"`);
  });

  it("W-LP-04 a second poll while one is pending → the first gets 204, the second later gets the data", async () => {
    const url = await handshaken();
    const first = pollOnce(url);
    await sleep(100);
    const second = pollOnce(url);
    const superseded = await first;
    expect(superseded.status).toBe(204);
    expect(superseded.headers.get("content-type")).toBe("text/plain");
    const e = envelope(4, "lp-user");
    expect((await gw.publish([e])).status).toBe(202);
    const answer = await second;
    expect(answer.status).toBe(200);
    expect(answer.body).toContain(`"id":"${e.id}"`);
  });

  it("W-LP-05 (TIDINGS_DISCONNECT_TIMEOUT_SECONDS=2) DELETE with a poll pending → 202 and the poll gets 204; a poll within 2 s → 204; after → 404", async () => {
    await using short = await startGateway({ TIDINGS_DISCONNECT_TIMEOUT_SECONDS: "2" });
    const url = await handshaken(short.url);
    const pending = pollOnce(url);
    await sleep(100);
    const deleted = await del(url);
    expect(deleted.status).toBe(202);
    expect(deleted.body).toBe("");
    expect((await pending).status).toBe(204);
    expect((await pollOnce(url)).status).toBe(204);
    expect((await del(url)).status).toBe(202);
    await sleep(2200);
    const gone = await pollOnce(url);
    expect(gone.status).toBe(404);
    expect(gone.body).toBe("No Connection with that ID");
  });

  it("W-LP-06 (TIDINGS_KEEPALIVE_SECONDS=1, poll timeout 1 s, TIDINGS_DISCONNECT_TIMEOUT_SECONDS=2) an idle LP connection never gets a Ping; without polls it ends once", async () => {
    await using short = await startGateway({
      TIDINGS_KEEPALIVE_SECONDS: "1",
      TIDINGS_CLIENT_TIMEOUT_SECONDS: "2",
      TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "1",
      TIDINGS_DISCONNECT_TIMEOUT_SECONDS: "2",
    });
    const url = await handshaken(short.url);
    // The client pinged once: a WebSocket or SSE connection would now be timed out after 2 s of silence.
    expect((await post(url, `{"type":6}${RS}`)).status).toBe(200);
    const idle = [await pollOnce(url), await pollOnce(url), await pollOnce(url)];
    expect(idle.map((p) => [p.status, p.body])).toEqual([
      [200, ""],
      [200, ""],
      [200, ""],
    ]);
    expect(short.gateway.connectionCount).toBe(1);
    await sleep(2500); // no poll for longer than the disconnect timeout
    expect(short.gateway.connectionCount).toBe(0);
    const after = await pollOnce(url);
    expect(after.status).toBe(204);
    expect((await post(url, `{"type":6}${RS}`)).status).toBe(404);
  });

  it("W-CLOSE-04 a protocol error closes over LP: the Close arrives in a 200 poll, the next poll gets 204", async () => {
    const url = await handshaken();
    expect((await post(url, `hello${RS}`)).status).toBe(200);
    const close = await pollOnce(url);
    expect(close.status).toBe(200);
    expect(close.body).toBe(`{"type":7,"error":"Invalid JSON","allowReconnect":true}${RS}`);
    expect((await pollOnce(url)).status).toBe(204);
  });

  it("docs/protocol.md §4.1 a handshake error over LP arrives in the next poll, and the poll after it gets 204", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    expect((await pollOnce(url)).status).toBe(200);
    expect((await post(url, `{"protocol":"json","version":3}${RS}`)).status).toBe(200);
    const answer = await pollOnce(url);
    expect([answer.status, answer.body]).toEqual([200, `{"error":"The server does not support version 3 of the 'json' protocol."}${RS}`]);
    expect((await pollOnce(url)).status).toBe(204);
  });

  it("W-BAD-05 a 2 MiB POST → 413 with a one-line reason, then Close `Message too large` in the next poll", async () => {
    const url = await handshaken();
    const big = await post(url, "x".repeat(2 * 1024 * 1024));
    expect(big.status).toBe(413);
    expect(big.body).toMatch(/^[^\n]+$/);
    const close = await pollOnce(url);
    expect(close.body).toBe(`{"type":7,"error":"Message too large","allowReconnect":true}${RS}`);
    expect((await pollOnce(url)).status).toBe(204);
  });

  it("W-BAD-08 (TIDINGS_MAX_BACKPRESSURE_BYTES=65536) messages piling up between polls beyond the limit → Close `Slow consumer`", async () => {
    await using small = await startGateway({ TIDINGS_MAX_BACKPRESSURE_BYTES: "65536" });
    const url = await handshaken(small.url);
    const body = "z".repeat(20_000);
    expect((await small.publish(Array.from({ length: 5 }, () => envelope(4, "lp-user", { body })))).status).toBe(202);
    const answer = await pollOnce(url);
    expect(answer.status).toBe(200);
    expect(answer.body.length).toBeLessThan(65536 + 25_000);
    expect(records(answer.body).at(-1)).toBe(`{"type":7,"error":"Slow consumer","allowReconnect":true}`);
    expect((await pollOnce(url)).status).toBe(204);
  });
});

describe("POST and DELETE", () => {
  it("W-POST-01 two Invocations in one POST → two Completions; one Invocation split over two POSTs → one; each POST → 200 empty", async () => {
    const url = await handshaken();
    const sub = (id: string, group: string) =>
      `{"type":1,"invocationId":"${id}","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"${group}"}]}${RS}`;
    const both = await post(url, sub("1", "a") + sub("2", "b"));
    expect([both.status, both.body]).toEqual([200, ""]);
    const two = await pollOnce(url);
    expect(two.body).toBe(`{"type":3,"invocationId":"1"}${RS}{"type":3,"invocationId":"2"}${RS}`);
    const whole = sub("3", "c");
    const halves = [await post(url, whole.slice(0, 20)), await post(url, whole.slice(20))];
    expect(halves.map((h) => [h.status, h.body])).toEqual([
      [200, ""],
      [200, ""],
    ]);
    expect((await pollOnce(url)).body).toBe(`{"type":3,"invocationId":"3"}${RS}`);
  });

  it("docs/protocol.md §3.5 overlapping POSTs are appended in arrival order: a slow body holds back a later fast one", async () => {
    const url = await handshaken();
    const invoke = (id: string) =>
      `{"type":1,"invocationId":"${id}","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"g${id}"}]}${RS}`;
    const slowBody = invoke("slow");
    // The slow POST sends its headers and half its body, the fast one arrives and completes, then the slow one finishes.
    const slow = new Promise<number>((resolve, reject) => {
      const req = httpRequest(
        url,
        { method: "POST", headers: { ...auth(), "content-length": String(Buffer.byteLength(slowBody)) } },
        (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        },
      );
      req.on("error", reject);
      req.write(slowBody.slice(0, 30));
      setTimeout(() => req.end(slowBody.slice(30)), 400);
    });
    await sleep(100);
    const fast = post(url, invoke("fast"));
    expect(await slow).toBe(200);
    expect((await fast).status).toBe(200);
    expect((await pollOnce(url)).body).toBe(`{"type":3,"invocationId":"slow"}${RS}{"type":3,"invocationId":"fast"}${RS}`);
  });

  it("docs/protocol.md §3.5 a POST before the first poll is buffered; the first poll stays empty and the next carries `{}␞`", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
    const first = await pollOnce(url);
    expect([first.status, first.body]).toEqual([200, ""]);
    expect((await pollOnce(url)).body).toBe(`{}${RS}`);
  });

  it("W-POST-02 POST to a WebSocket connection → 405; without id → 400; after the connection ended → 404 empty", async () => {
    const ws = await negotiate(gw.url, auth());
    const socket = await RawWs.open(`${hubUrl(gw.url, ws.id).replace("http", "ws")}`, auth());
    const toWs = await post(hubUrl(gw.url, ws.id), `{"type":6}${RS}`);
    expect(toWs.status).toBe(405);
    expect(toWs.body).toBe("POST requests are not allowed for WebSocket connections.");
    socket.close();
    const noId = await post(`${gw.url}/notifications`, `{"type":6}${RS}`);
    expect(noId.status).toBe(400);
    expect(noId.body).toBe("Connection ID required");
    const url = await handshaken();
    expect((await del(url)).status).toBe(202);
    const ended = await post(url, `{"type":6}${RS}`);
    expect(ended.status).toBe(404);
    expect(ended.body).toBe("");
  });

  it("W-POST-03 DELETE on an SSE or WebSocket connection → 400; DELETE with an unknown id → 404", async () => {
    const sseConn = await negotiate(gw.url, auth());
    const sse = await SseStream.open(hubUrl(gw.url, sseConn.id), auth());
    const onSse = await del(hubUrl(gw.url, sseConn.id));
    expect(onSse.status).toBe(400);
    expect(onSse.body).toBe("Cannot terminate this connection using the DELETE endpoint.");
    sse.close();
    const wsConn = await negotiate(gw.url, auth());
    const socket = await RawWs.open(hubUrl(gw.url, wsConn.id).replace("http", "ws"), auth());
    const onWs = await del(hubUrl(gw.url, wsConn.id));
    expect(onWs.status).toBe(400);
    expect(onWs.body).toBe("Cannot terminate this connection using the DELETE endpoint.");
    socket.close();
    const unknown = await del(hubUrl(gw.url, "nope"));
    expect(unknown.status).toBe(404);
    expect(unknown.body).toBe("No Connection with that ID");
  });

  it("W-WS-03 a WebSocket upgrade with the id of a long-polling connection → 400 Cannot change transports mid-connection; an SSE GET too", async () => {
    const url = await handshaken();
    const upgrade = await RawWs.refused(url.replace("http", "ws"), auth());
    expect(upgrade.status).toBe(400);
    expect(upgrade.body).toBe("Cannot change transports mid-connection");
    const sse = await request(url, { headers: { accept: "text/event-stream", ...auth() } });
    expect([sse.status, sse.body]).toEqual([400, "Cannot change transports mid-connection"]);
  });

  it("docs/protocol.md §2.3 later requests: an authenticated version-0 connection needs a credential (401), another user's → 403, an expired one of the same user is accepted", async () => {
    const { id } = await negotiate(gw.url, auth(), 0);
    const url = hubUrl(gw.url, id);
    expect((await pollOnce(url)).status).toBe(200);
    const anonymous = await post(url, JSON_HANDSHAKE, {});
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Bearer error="invalid_token"/);
    const other = await post(url, JSON_HANDSHAKE, { authorization: `Bearer ${await mintToken({ sub: "someone-else" })}` });
    expect(other.status).toBe(403);
    const expired = { authorization: `Bearer ${await mintToken({ sub: "lp-user", expiresIn: -120 })}` };
    expect((await post(url, JSON_HANDSHAKE, expired)).status).toBe(200);
    expect((await pollOnce(url, expired)).body).toBe(`{}${RS}`);
    expect((await pollOnce(url, {})).status).toBe(401);
  });
});

import { buildClient, mintToken, RawWs, sleep, TcpProxy, waitFor, type HttpExchange } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";
import { request, RS, SseStream } from "./http-transports.js";

/** Short windows keep the file fast: a 1 s reattach/unused window and 1 s idle polls. */
const SHORT = { TIDINGS_DISCONNECT_TIMEOUT_SECONDS: "1", TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "1" };

let gw: TestGateway;
let token: string;
const USER = "srl-user";
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  gw = await startGateway(SHORT);
  token = await mintToken({ sub: USER });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

async function statefulNegotiate(base: string): Promise<string> {
  const res = await fetch(`${base}/notifications/negotiate?negotiateVersion=1&useStatefulReconnect=true`, {
    method: "POST",
    headers: auth(),
  });
  const body = (await res.json()) as { connectionToken: string; useStatefulReconnect?: boolean };
  expect(body.useStatefulReconnect).toBe(true);
  return body.connectionToken;
}
const wsUrl = (base: string, id: string) => `${base.replace("http", "ws")}/notifications?id=${id}`;
const texts = (ws: RawWs) => ws.frames.map((f) => f.data.toString());
const subscribe = (id: string, group: string) =>
  `{"type":1,"invocationId":"${id}","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"${group}"}]}${RS}`;

/** A stateful WebSocket past its JSON version-2 handshake and first Ping, subscribed to `group`. */
async function statefulSocket(base: string, group: string): Promise<{ ws: RawWs; url: string }> {
  const url = wsUrl(base, await statefulNegotiate(base));
  const ws = await RawWs.open(url, auth());
  ws.send(`{"protocol":"json","version":2}${RS}{"type":6}${RS}${subscribe("s", group)}`);
  await waitFor(() => texts(ws).includes(`{"type":3,"invocationId":"s"}${RS}`), 3000, "Subscribe completion");
  expect(texts(ws)[0]).toBe(`{}${RS}`);
  return { ws, url };
}

/** Notifications of about `bytes` encoded bytes each, to group `group`. */
const bulky = (group: string, count: number, bytes: number) =>
  Array.from({ length: count }, () => envelope(3, group, { body: { pad: "x".repeat(bytes) } }));

describe("stateful reconnect: windows and limits", () => {
  it("W-SR-02 (@microsoft/signalr withStatefulReconnect) 150,000 bytes of invocations sent at once all complete: server Acks release the client's 100,000-byte buffer", async () => {
    await using own = await startGateway();
    const client = buildClient(own.url, { token, statefulReconnect: true });
    await client.start();
    const pad = "p".repeat(14_900);
    // 10 × ~15,000 bytes: without Acks the client holds back every invocation past its 100,000-byte window.
    const calls = Array.from({ length: 10 }, (_, i) =>
      client.invoke("Subscribe", { audienceType: 3, audienceValue: `sr02-${i}`, padding: pad }).then(
        () => "ok",
        (e: Error) => e.message,
      ),
    );
    let settled = 0;
    for (const c of calls) void c.then(() => settled++);
    await waitFor(() => settled === calls.length, 8000, `all 10 completions (${settled} so far)`);
    const results = await Promise.all(calls);
    expect(results).toHaveLength(10);
    expect(new Set(results).size).toBe(1); // every call got the same kind of Completion
    expect(client.state).toBe("Connected");
    await client.stop();
  });

  it("W-SR-07 a raw reattach after the reattach window (TIDINGS_DISCONNECT_TIMEOUT_SECONDS=1) → 404; disconnect logic ran once", async () => {
    const before = await gw.metric("tidings_gateway_disconnects_total");
    const { ws, url } = await statefulSocket(gw.url, "sr07-raw");
    ws.terminate();
    await sleep(400);
    expect(await gw.metric("tidings_gateway_disconnects_total")).toBe(before); // detached, not ended
    await sleep(1600);
    expect((await RawWs.refused(url, auth())).status).toBe(404);
    expect(await gw.metric("tidings_gateway_disconnects_total")).toBe(before + 1);
  });

  it("W-SR-07 (@microsoft/signalr stateful + automatic reconnect) a reattach arriving after the window gets 404 → a full reconnect with a new connectionId; the old connection's disconnect logic ran once", async () => {
    await using own = await startGateway(SHORT);
    const proxy = await TcpProxy.start(own.port);
    try {
      const client = buildClient(`http://127.0.0.1:${proxy.port}`, { token, statefulReconnect: true, automaticReconnect: true });
      const reconnected: Array<string | undefined> = [];
      client.onreconnected((id) => void reconnected.push(id));
      let closed = false;
      client.onclose(() => (closed = true));
      await client.start();
      const oldId = client.connectionId;
      proxy.delayNewConnections(2500); // the reattach reaches the server 1.5 s after its 1 s window
      proxy.dropConnections();
      await sleep(500);
      proxy.delayNewConnections(0); // the full reconnect that follows goes through at once
      await waitFor(() => reconnected.length === 1, 15_000, "onreconnected");
      expect(reconnected[0]).toBeDefined();
      expect(reconnected[0]).not.toBe(oldId);
      expect(closed).toBe(false);
      expect(own.gateway.connectionCount).toBe(1);
      expect(await own.metric("tidings_gateway_disconnects_total")).toBe(1);
      await client.stop();
    } finally {
      await proxy.close();
    }
  });

  it("W-SR-07 after a graceful stop() of a stateful @microsoft/signalr client a raw reattach → 404", async () => {
    const exchanges: HttpExchange[] = [];
    const client = buildClient(gw.url, { token, statefulReconnect: true, exchanges });
    await client.start();
    const negotiated = exchanges.find((x) => x.url.includes("/negotiate"));
    const id = (JSON.parse(negotiated!.body) as { connectionToken: string }).connectionToken;
    await client.stop();
    expect((await RawWs.refused(wsUrl(gw.url, id), auth())).status).toBe(404);
  });

  it.each([
    ["ServerSentEvents", 1],
    ["ServerSentEvents", 2],
    ["LongPolling", 1],
    ["LongPolling", 2],
  ] as const)(
    "W-SR-08 stateful negotiated, %s, handshake version %i → no Ack or Sequence is ever sent; the client's Ack and Sequence are ignored",
    async (transport, version) => {
      const url = `${gw.url}/notifications?id=${await statefulNegotiate(gw.url)}`;
      const post = (body: string) => request(url, { method: "POST", headers: auth(), body });
      const received: string[] = [];
      let sse: SseStream | undefined;
      if (transport === "ServerSentEvents") sse = await SseStream.open(url, auth());
      else expect((await request(url, { headers: auth() })).status).toBe(200);
      const poll = async () => {
        if (sse !== undefined) return;
        const r = await request(`${url}&_=${Date.now()}`, { headers: auth() });
        received.push(...r.body.split(RS).filter((x) => x !== ""));
      };
      const all = () => (sse === undefined ? received : sse.events().flatMap((e) => e.split(RS).filter((x) => x !== "")));
      expect((await post(`{"protocol":"json","version":${version}}${RS}`)).status).toBe(200);
      expect((await post(`{"type":6}${RS}${subscribe("0", "sr08-room")}`)).status).toBe(200);
      expect((await post(`{"type":8,"sequenceId":1}${RS}{"type":9,"sequenceId":7}${RS}${subscribe("1", "sr08-room")}`)).status).toBe(200);
      const deadline = Date.now() + 2500; // past the server's once-a-second Ack tick
      while (Date.now() < deadline) {
        await poll();
        await sleep(100);
      }
      const e = envelope(3, "sr08-room");
      expect((await gw.publish([e])).status).toBe(202);
      await waitFor(
        async () => {
          await poll();
          return all().some((m) => m.includes(`"id":"${e.id}"`));
        },
        4000,
        "group notification",
      );
      const messages = all();
      expect(messages.slice(0, 3)).toEqual(["{}", `{"type":3,"invocationId":"0"}`, `{"type":3,"invocationId":"1"}`]);
      expect(messages.filter((m) => m.startsWith('{"type":8') || m.startsWith('{"type":9'))).toEqual([]);
      sse?.close();
      await request(url, { method: "DELETE", headers: auth() });
    },
  );

  it("W-SR-10 a detached connection that receives more than TIDINGS_MAX_BACKPRESSURE_BYTES ends: the reattach gets 404, disconnect logic ran once", async () => {
    await using own = await startGateway({ TIDINGS_MAX_BACKPRESSURE_BYTES: "120000", TIDINGS_DISCONNECT_TIMEOUT_SECONDS: "30" });
    const { ws, url } = await statefulSocket(own.url, "sr10-detached");
    ws.terminate();
    await sleep(200);
    expect((await own.publish(bulky("sr10-detached", 8, 10_000))).status).toBe(202); // ~80 kB: still within the limit
    await sleep(200);
    expect(own.gateway.connectionCount).toBe(1);
    expect((await own.publish(bulky("sr10-detached", 8, 10_000))).status).toBe(202); // ~160 kB in all: over it
    await waitFor(() => own.gateway.connectionCount === 0, 3000, "the detached connection to end");
    expect((await RawWs.refused(url, auth())).status).toBe(404);
    expect(await own.metric("tidings_gateway_disconnects_total")).toBe(1);
  });

  it("W-SR-10 an attached stateful client that never acks and exceeds TIDINGS_MAX_BACKPRESSURE_BYTES → Close `Slow consumer`", async () => {
    await using own = await startGateway({ TIDINGS_MAX_BACKPRESSURE_BYTES: "120000" });
    const { ws } = await statefulSocket(own.url, "sr10-attached");
    expect((await own.publish(bulky("sr10-attached", 8, 10_000))).status).toBe(202);
    await sleep(300);
    expect(ws.closeCode).toBeNull();
    expect((await own.publish(bulky("sr10-attached", 8, 10_000))).status).toBe(202);
    expect(await ws.closed).toBe(1000);
    expect(JSON.parse(texts(ws).at(-1)!.slice(0, -1))).toEqual({ type: 7, error: "Slow consumer", allowReconnect: true });
    expect(await own.metric('tidings_gateway_disconnects_total{reason="slow_consumer"}')).toBe(1);
  });
});

describe("negotiate", () => {
  it("W-NEG-08 a negotiated connection left unused past the disconnect timeout (1 s) → its token gets 404", async () => {
    const id = await statefulNegotiate(gw.url);
    await sleep(2000);
    expect((await RawWs.refused(wsUrl(gw.url, id), auth())).status).toBe(404);
    expect((await request(`${gw.url}/notifications?id=${id}`, { headers: auth() })).status).toBe(404);
    const used = await RawWs.open(wsUrl(gw.url, await statefulNegotiate(gw.url)), auth()); // control: within the window it is usable
    used.close();
  });
});

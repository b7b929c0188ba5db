import { decode, encode } from "@msgpack/msgpack";
import { buildClient, collect, mintToken, RawWs, sleep, TcpProxy, waitFor, type HttpExchange } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";
import { RS } from "./http-transports.js";

let gw: TestGateway;
let token: string;
const USER = "scen-user";

beforeAll(async () => {
  gw = await startGateway();
  token = await mintToken({ sub: USER });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const wsUrl = (base = gw.url) => `${base.replace("http", "ws")}/notifications?access_token=${token}`;
const texts = (ws: RawWs) => ws.frames.map((f) => f.data.toString());
const group = (name: string) => ({ audienceType: 3, audienceValue: name });

/** A MessagePack hub message with its length prefix (the test messages stay under 128 bytes: one prefix byte). */
function mp(message: unknown[]): Uint8Array {
  const body = encode(message);
  expect(body.length).toBeLessThan(128);
  return Uint8Array.of(body.length, ...body);
}
/** Decodes one length-prefixed MessagePack message (single prefix byte). */
const unmp = (frame: Buffer) => decode(frame.subarray(1, 1 + frame[0]!)) as unknown[];

async function jsonSocket(base = gw.url): Promise<RawWs> {
  const ws = await RawWs.open(wsUrl(base));
  ws.send(`{"protocol":"json","version":1}${RS}`);
  await waitFor(() => ws.frames.length >= 1, 3000, "handshake answer");
  expect(texts(ws)[0]).toBe(`{}${RS}`);
  return ws;
}

async function messagePackSocket(): Promise<RawWs> {
  const ws = await RawWs.open(wsUrl());
  ws.send(`{"protocol":"messagepack","version":1}${RS}`, false);
  await waitFor(() => ws.frames.length >= 1, 3000, "handshake answer");
  expect([...ws.frames[0]!.data]).toEqual([0x7b, 0x7d, 0x1e]);
  return ws;
}

describe("WebSockets", () => {
  it("W-WS-01 MessagePack: handshake as a Text frame, messages as Binary → accepted; `{}␞` is the whole first server message (JSON too, with an Invocation in the handshake's frame)", async () => {
    const ws = await RawWs.open(wsUrl());
    ws.send(`{"protocol":"messagepack","version":1}${RS}`, false);
    ws.send(mp([1, {}, "0", "Subscribe", [group("ws01")]]));
    await waitFor(() => ws.frames.length >= 2, 3000, "handshake answer and Completion");
    expect(ws.frames[0]).toMatchObject({ binary: true });
    expect([...ws.frames[0]!.data]).toEqual([0x7b, 0x7d, 0x1e]);
    expect(ws.frames[1]!.binary).toBe(true);
    expect([...ws.frames[1]!.data]).toEqual([0x06, 0x94, 0x03, 0x80, 0xa1, 0x30, 0x02]);
    ws.close();

    const json = await RawWs.open(wsUrl());
    json.send(
      `{"protocol":"json","version":1}${RS}{"type":1,"invocationId":"0","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"ws01"}]}${RS}`,
    );
    await waitFor(() => json.frames.length >= 2, 3000, "handshake answer and Completion");
    expect(texts(json).slice(0, 2)).toEqual([`{}${RS}`, `{"type":3,"invocationId":"0"}${RS}`]);
    json.close();
  });

  it("W-WS-05 @microsoft/signalr stop() → the server gets Close and a 1000 close (disconnect reason client_close); the connection ends; a later upgrade with its id → 404", async () => {
    await using own = await startGateway();
    const exchanges: HttpExchange[] = [];
    const client = buildClient(own.url, { token, exchanges });
    await client.start();
    const id = (JSON.parse(exchanges[0]!.body) as { connectionToken: string }).connectionToken;
    await client.stop();
    await waitFor(() => own.gateway.connectionCount === 0, 2000, "the connection to end");
    expect(await own.metric('tidings_gateway_disconnects_total{reason="client_close"}')).toBe(1);
    expect(await own.metric("tidings_gateway_disconnects_total")).toBe(1);
    expect(
      (await RawWs.refused(`${own.url.replace("http", "ws")}/notifications?id=${id}`, { authorization: `Bearer ${token}` })).status,
    ).toBe(404);
  });
});

describe("invocations", () => {
  it('W-INV-01 one invocation → exactly one Completion with its id ("0" first); void: JSON without result, MessagePack result kind 02', async () => {
    const json = await jsonSocket();
    json.send(`{"type":1,"invocationId":"0","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"inv01"}]}${RS}`);
    json.send(`{"type":1,"invocationId":"1","target":"Unsubscribe","arguments":[{"audienceType":3,"audienceValue":"inv01"}]}${RS}`);
    await waitFor(() => json.frames.length >= 3, 3000, "two Completions");
    await sleep(300);
    expect(texts(json).slice(1)).toEqual([`{"type":3,"invocationId":"0"}${RS}`, `{"type":3,"invocationId":"1"}${RS}`]);
    json.close();

    const bin = await messagePackSocket();
    bin.send(mp([1, {}, "0", "Subscribe", [group("inv01")]]));
    await waitFor(() => bin.frames.length >= 2, 3000, "Completion");
    await sleep(300);
    expect(bin.frames).toHaveLength(2);
    expect(unmp(bin.frames[1]!.data)).toEqual([3, {}, "0", 2]);
    bin.close();
  });

  it("W-INV-02 send (no invocationId) of an existing and of an unknown method → no Completion, the call runs, the connection stays up", async () => {
    const ws = await jsonSocket();
    ws.send(
      `{"type":1,"target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"inv02"}]}${RS}{"type":1,"target":"NoSuchMethod","arguments":[]}${RS}`,
    );
    await sleep(300);
    const e = envelope(3, "inv02");
    expect((await gw.publish([e])).status).toBe(202);
    await waitFor(() => texts(ws).some((t) => t.includes(`"id":"${e.id}"`)), 3000, "group notification: the sent Subscribe ran");
    expect(texts(ws).filter((t) => t.startsWith('{"type":3'))).toEqual([]);
    expect(ws.closeCode).toBeNull();
    ws.close();
  });

  it('W-INV-06 invoke("subscribe") and invoke("SUBSCRIBE") behave as Subscribe; an error for them quotes the target as sent', async () => {
    const ws = await jsonSocket();
    ws.send(`{"type":1,"invocationId":"a","target":"subscribe","arguments":[{"audienceType":3,"audienceValue":"inv06-a"}]}${RS}`);
    ws.send(`{"type":1,"invocationId":"b","target":"SUBSCRIBE","arguments":[{"audienceType":3,"audienceValue":"inv06-b"}]}${RS}`);
    ws.send(`{"type":1,"invocationId":"c","target":"SUBSCRIBE","arguments":[1,2]}${RS}`);
    ws.send(`{"type":1,"invocationId":"d","target":"sUbScRiBe","arguments":["x"]}${RS}`);
    await waitFor(() => ws.frames.length >= 5, 3000, "four Completions");
    expect(texts(ws).slice(1, 3)).toEqual([`{"type":3,"invocationId":"a"}${RS}`, `{"type":3,"invocationId":"b"}${RS}`]);
    expect(JSON.parse(texts(ws)[3]!.slice(0, -1))).toEqual({
      type: 3,
      invocationId: "c",
      error: "Failed to invoke 'SUBSCRIBE' due to an error on the server.",
    });
    expect(JSON.parse(texts(ws)[4]!.slice(0, -1))).toEqual({
      type: 3,
      invocationId: "d",
      error: "Failed to invoke 'sUbScRiBe' due to an error on the server.",
    });
    const sent = [envelope(3, "inv06-a"), envelope(3, "inv06-b")];
    expect((await gw.publish(sent)).status).toBe(202);
    await waitFor(() => sent.every((e) => texts(ws).some((t) => t.includes(`"id":"${e.id}"`))), 3000, "both groups' notifications");
    ws.close();
  });

  it('W-INV-09 stray CancelInvocation, StreamItem and Completion with unknown ids and {"type":99} are ignored; MessagePack Invocations with 5 and 6 elements and a traceparent header are dispatched', async () => {
    const json = await jsonSocket();
    json.send(
      `{"type":5,"invocationId":"nope"}${RS}{"type":2,"invocationId":"nope","item":1}${RS}{"type":3,"invocationId":"nope","result":1}${RS}{"type":99}${RS}` +
        `{"type":1,"invocationId":"after","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"inv09"}]}${RS}`,
    );
    await waitFor(() => json.frames.length >= 2, 3000, "Completion after the stray messages");
    await sleep(200);
    expect(texts(json).slice(1)).toEqual([`{"type":3,"invocationId":"after"}${RS}`]);
    expect(json.closeCode).toBeNull();
    json.close();

    const bin = await messagePackSocket();
    const headers = { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" };
    bin.send(mp([5, {}, "nope"]));
    bin.send(mp([2, {}, "nope", 1]));
    bin.send(mp([99]));
    bin.send(mp([1, headers, "five", "Subscribe", [group("inv09")]]));
    bin.send(mp([1, headers, "six", "Subscribe", [group("inv09")], []]));
    await waitFor(() => bin.frames.length >= 3, 3000, "two Completions");
    await sleep(200);
    expect(bin.frames.slice(1).map((f) => unmp(f.data))).toEqual([
      [3, {}, "five", 2],
      [3, {}, "six", 2],
    ]);
    bin.close();
  });
});

describe("keep-alive", () => {
  it('W-KA-01 (TIDINGS_KEEPALIVE_SECONDS=2) an idle WebSocket gets {"type":6} every 2 s; any server message resets the interval', async () => {
    await using own = await startGateway({ TIDINGS_KEEPALIVE_SECONDS: "2", TIDINGS_CLIENT_TIMEOUT_SECONDS: "30" });
    const ws = await jsonSocket(own.url);
    const pingsAt: number[] = [];
    const start = Date.now();
    await waitFor(
      () => {
        for (let i = pingsAt.length + 1; i < ws.frames.length; i++) pingsAt.push(Date.now());
        return pingsAt.length >= 2;
      },
      7000,
      "two Pings",
    );
    expect(texts(ws).slice(1)).toEqual([`{"type":6}${RS}`, `{"type":6}${RS}`]);
    // Pings go out on the once-a-second tick once 2 s passed since the last send: 2–3 s apart, plus the
    // event loop's delay on a busy machine (half a second allowed).
    const gap = pingsAt[1]! - pingsAt[0]!;
    expect(gap).toBeGreaterThanOrEqual(1500);
    expect(gap).toBeLessThanOrEqual(3500);
    expect(pingsAt[0]! - start).toBeLessThanOrEqual(3500);

    // A notification 1 s after a Ping: the next Ping comes about 2 s after the notification, not 1 s.
    await sleep(1000);
    const e = envelope(4, USER);
    expect((await own.publish([e])).status).toBe(202);
    await waitFor(() => texts(ws).some((t) => t.includes(`"id":"${e.id}"`)), 2000, "notification");
    const notifiedAt = Date.now();
    const before = ws.frames.length;
    await waitFor(() => ws.frames.length > before, 4000, "the next Ping");
    expect(texts(ws).at(-1)).toBe(`{"type":6}${RS}`);
    expect(Date.now() - notifiedAt).toBeGreaterThanOrEqual(1500);
    ws.close();
  });
});

describe("automatic reconnect", () => {
  it("W-AR-01 @microsoft/signalr withAutomaticReconnect, socket killed → onreconnecting, a new negotiate, onreconnected(newId) with newId ≠ oldId; notifications flow again", async () => {
    await using own = await startGateway();
    const proxy = await TcpProxy.start(own.port);
    try {
      const exchanges: HttpExchange[] = [];
      const client = buildClient(`http://127.0.0.1:${proxy.port}`, { token, automaticReconnect: true, exchanges });
      const got = collect<{ id: string }>(client, "note");
      let reconnecting = 0;
      const reconnected: Array<string | undefined> = [];
      client.onreconnecting(() => void reconnecting++);
      client.onreconnected((id) => void reconnected.push(id));
      await client.start();
      const oldId = client.connectionId;
      proxy.dropConnections();
      await waitFor(() => reconnected.length === 1, 5000, "onreconnected");
      expect(reconnecting).toBe(1);
      expect(reconnected[0]).toBeDefined();
      expect(reconnected[0]).not.toBe(oldId);
      expect(exchanges.filter((x) => x.url.includes("/negotiate")).map((x) => x.status)).toEqual([200, 200]);
      const e = envelope(4, USER);
      expect((await own.publish([e])).status).toBe(202);
      await waitFor(() => got.some((n) => n.id === e.id), 3000, "notification after the reconnect");
      await client.stop();
    } finally {
      await proxy.close();
    }
  });

  it("W-AR-03 @microsoft/signalr skipNegotiation + withAutomaticReconnect, socket killed → onreconnected(undefined); notifications flow again", async () => {
    await using own = await startGateway();
    const proxy = await TcpProxy.start(own.port);
    try {
      const client = buildClient(`http://127.0.0.1:${proxy.port}`, { token, skipNegotiation: true, automaticReconnect: true });
      const got = collect<{ id: string }>(client, "note");
      const reconnected: Array<string | undefined> = [];
      client.onreconnected((id) => void reconnected.push(id));
      await client.start();
      proxy.dropConnections();
      await waitFor(() => reconnected.length === 1, 5000, "onreconnected");
      expect(reconnected).toEqual([undefined]);
      await waitFor(() => own.gateway.connectionCount === 1, 2000, "one connection");
      const e = envelope(4, USER);
      expect((await own.publish([e])).status).toBe(202);
      await waitFor(() => got.some((n) => n.id === e.id), 3000, "notification after the reconnect");
      await client.stop();
    } finally {
      await proxy.close();
    }
  });
});

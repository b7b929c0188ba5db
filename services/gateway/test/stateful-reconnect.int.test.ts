import { buildClient, collect, mintToken, RawWs, sleep, TcpProxy, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";
import { RS } from "./http-transports.js";

let gw: TestGateway;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  gw = await startGateway();
  token = await mintToken({ sub: "sr-user" });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

async function negotiateBody(base: string, query: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${base}/notifications/negotiate?negotiateVersion=1${query}`, { method: "POST", headers: auth() });
  return (await res.json()) as Record<string, unknown>;
}

/** A stateful-negotiated connection's WebSocket URL. */
async function statefulUrl(): Promise<string> {
  const body = await negotiateBody(gw.url, "&useStatefulReconnect=true");
  expect(body["useStatefulReconnect"]).toBe(true);
  return `${gw.url.replace("http", "ws")}/notifications?id=${body["connectionToken"] as string}`;
}

const subscribe = (id: string, group = "sr-room") =>
  `{"type":1,"invocationId":"${id}","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"${group}"}]}${RS}`;
const texts = (ws: RawWs) => ws.frames.map((f) => f.data.toString());
const isAck = (text: string) => text.startsWith('{"type":8,');

/** Opens a stateful connection: JSON handshake version 2 and the client's first Ping (which releases held messages). */
async function statefulSocket(url: string): Promise<RawWs> {
  const ws = await RawWs.open(url, auth());
  ws.send(`{"protocol":"json","version":2}${RS}{"type":6}${RS}`);
  await waitFor(() => ws.frames.length >= 1, 3000, "handshake answer");
  expect(texts(ws)[0]).toBe(`{}${RS}`);
  return ws;
}

describe("negotiate", () => {
  it("W-NEG-05 useStatefulReconnect=true with the setting on → true; parameter absent → absent; setting off → absent", async () => {
    expect((await negotiateBody(gw.url, "&useStatefulReconnect=TRUE"))["useStatefulReconnect"]).toBe(true);
    expect(await negotiateBody(gw.url, "")).not.toHaveProperty("useStatefulReconnect");
    await using off = await startGateway({ TIDINGS_STATEFUL_RECONNECT: "false" });
    expect(await negotiateBody(off.url, "&useStatefulReconnect=true")).not.toHaveProperty("useStatefulReconnect");
  });
});

describe("stateful reconnect", () => {
  it("W-SR-01 JSON: handshake version 2 → {}␞; Pings alone get no Ack; the first Invocation gets Ack{1} within 1.5 s", async () => {
    const ws = await statefulSocket(await statefulUrl());
    await sleep(1500);
    expect(texts(ws)).toEqual([`{}${RS}`]);
    const sentAt = Date.now();
    ws.send(subscribe("0"));
    await waitFor(() => texts(ws).some(isAck), 1500, "Ack");
    expect(Date.now() - sentAt).toBeLessThan(1500);
    expect(texts(ws).slice(1)).toEqual([`{"type":3,"invocationId":"0"}${RS}`, `{"type":8,"sequenceId":1}${RS}`]);
    ws.close();
  });

  it("W-SR-01 MessagePack: the Ack is `03 92 08 01`", async () => {
    const ws = await RawWs.open(await statefulUrl(), auth());
    ws.send(`{"protocol":"messagepack","version":2}${RS}`);
    ws.send(Uint8Array.of(0x02, 0x91, 0x06));
    await waitFor(() => ws.frames.length === 1);
    // [1,{},"0","Subscribe",[{}]] (docs/protocol.md §4.7): refused with WrongInput, still one counted message
    ws.send(Uint8Array.of(0x11, 0x95, 0x01, 0x80, 0xa1, 0x30, 0xa9, ...Buffer.from("Subscribe"), 0x91, 0x80));
    await waitFor(() => ws.frames.some((f) => f.data.equals(Buffer.from([0x03, 0x92, 0x08, 0x01]))), 2500, "MessagePack Ack");
    ws.close();
  });

  it("docs/protocol.md §7 first counted message: counted messages wait until the client's first message after the handshake", async () => {
    const ws = await RawWs.open(await statefulUrl(), auth());
    ws.send(`{"protocol":"json","version":2}${RS}`);
    await waitFor(() => ws.frames.length === 1);
    const early = envelope(4, "sr-user");
    expect((await gw.publish([early])).status).toBe(202);
    await sleep(200);
    expect(texts(ws)).toEqual([`{}${RS}`]);
    ws.send(`{"type":6}${RS}`); // what the JS client sends once its message buffer exists
    await waitFor(() => ws.frames.length === 2, 2000, "held notification");
    expect(texts(ws)[1]).toContain(`"id":"${early.id}"`);
    ws.close();
  });

  it("docs/protocol.md §7 condition 4: a stateful negotiate with a version-1 handshake is an ordinary connection (no Ack)", async () => {
    const ws = await RawWs.open(await statefulUrl(), auth());
    ws.send(`{"protocol":"json","version":1}${RS}{"type":6}${RS}${subscribe("0")}`);
    await sleep(1600);
    expect(texts(ws)).toEqual([`{}${RS}`, `{"type":3,"invocationId":"0"}${RS}`]);
    ws.close();
  });

  it("W-SR-04 raw reattach: Sequence{first unacknowledged} first, then the unacknowledged messages byte-identical, then new ones; nothing unacknowledged → Sequence{sent+1}", async () => {
    const url = await statefulUrl();
    const first = await statefulSocket(url);
    first.send(subscribe("a") + subscribe("b"));
    await waitFor(() => texts(first).filter((t) => t.startsWith('{"type":3')).length === 2, 3000, "two completions");
    const completions = first.frames.filter((f) => f.data.toString().startsWith('{"type":3')).map((f) => f.data);
    first.terminate(); // TCP loss, no close frame: the server detaches and keeps numbering
    await sleep(100);
    const whileDetached = envelope(3, "sr-room");
    expect((await gw.publish([whileDetached])).status).toBe(202);

    const second = await RawWs.open(url, auth()); // no negotiate, no handshake
    await waitFor(() => second.frames.filter((f) => !isAck(f.data.toString())).length >= 4, 3000, "replay");
    const replay = second.frames.filter((f) => !isAck(f.data.toString()));
    expect(replay[0]!.data.toString()).toBe(`{"type":9,"sequenceId":1}${RS}`);
    expect(replay[1]!.data.equals(completions[0]!)).toBe(true);
    expect(replay[2]!.data.equals(completions[1]!)).toBe(true);
    expect(replay[3]!.data.toString()).toContain(`"id":"${whileDetached.id}"`);
    const fresh = envelope(3, "sr-room");
    expect((await gw.publish([fresh])).status).toBe(202);
    await waitFor(() => texts(second).some((t) => t.includes(`"id":"${fresh.id}"`)), 3000, "new message after the replay");

    second.send(`{"type":8,"sequenceId":4}${RS}`); // the client acknowledges all four
    await sleep(100);
    second.terminate();
    await sleep(100);
    const third = await RawWs.open(url, auth());
    await sleep(300);
    expect(texts(third).filter((t) => !isAck(t))).toEqual([`{"type":9,"sequenceId":5}${RS}`]);
    third.close(); // a close frame is graceful: final, no reattach (W-SR-07)
    await third.closed;
    expect((await RawWs.refused(url, auth())).status).toBe(404);
  });

  it("W-SR-09 a second upgrade while the old socket still looks open replaces it (no 409) and gets Sequence first", async () => {
    const url = await statefulUrl();
    const first = await statefulSocket(url);
    const second = await RawWs.open(url, auth());
    await waitFor(() => second.frames.length >= 1, 2000, "Sequence");
    expect(texts(second)[0]).toBe(`{"type":9,"sequenceId":1}${RS}`);
    expect(await first.closed).toBe(1000);
    second.send(subscribe("x"));
    await waitFor(() => texts(second).includes(`{"type":3,"invocationId":"x"}${RS}`), 2000, "completion on the new socket");
    second.close();
  });

  it.each([3, 0, -3])(
    "W-SR-06 a reattach sending Sequence{%i} (next is 2) → Close `Invalid sequence` with allowReconnect",
    async (sequenceId) => {
      const url = await statefulUrl();
      const first = await statefulSocket(url);
      first.send(subscribe("a"));
      await waitFor(() => texts(first).some((t) => t.startsWith('{"type":3')), 3000, "completion");
      first.terminate();
      await sleep(100);
      const second = await RawWs.open(url, auth());
      second.send(`{"type":9,"sequenceId":${sequenceId}}${RS}`);
      expect(await second.closed).toBe(1000);
      expect(texts(second).at(-1)).toBe(`{"type":7,"error":"Invalid sequence","allowReconnect":true}${RS}`);
    },
  );

  it("W-SR-05 a reattach with Sequence{1} replaying an Invocation the server processed → no second Completion", async () => {
    const url = await statefulUrl();
    const first = await statefulSocket(url);
    first.send(subscribe("a"));
    await waitFor(() => texts(first).some((t) => t.startsWith('{"type":3')), 3000, "completion");
    first.terminate();
    await sleep(100);
    const second = await RawWs.open(url, auth());
    second.send(`{"type":9,"sequenceId":1}${RS}${subscribe("a")}${subscribe("b")}`);
    await waitFor(() => texts(second).some((t) => t === `{"type":3,"invocationId":"b"}${RS}`), 3000, "completion of b");
    expect(texts(second).filter((t) => t === `{"type":3,"invocationId":"a"}${RS}`)).toHaveLength(1); // the replay of the buffered one only
    second.close();
  });

  it("W-SR-03 (@microsoft/signalr withStatefulReconnect) TCP killed mid-stream of 1,000 notifications → the client reattaches; all arrive in order, none twice; same connection and subscriptions", async () => {
    await using own = await startGateway();
    const proxy = await TcpProxy.start(own.port);
    try {
      const client = buildClient(`http://127.0.0.1:${proxy.port}`, { token: await mintToken({ sub: "sr-js" }), statefulReconnect: true });
      const got = collect<{ id: string }>(client, "note");
      let closed = false;
      client.onclose(() => (closed = true));
      await client.start();
      const connectionId = client.connectionId;
      await client.invoke("Subscribe", { audienceType: 3, audienceValue: "sr-js-room" });
      const sent: string[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const envelopes = Array.from({ length: 100 }, () => envelope(4, "sr-js"));
        sent.push(...envelopes.map((e) => e.id));
        expect((await own.publish(envelopes)).status).toBe(202);
        if (batch === 4) proxy.dropConnections();
      }
      await waitFor(() => got.length >= sent.length, 10_000, "all 1,000 notifications");
      await sleep(300);
      expect(got.map((n) => n.id)).toEqual(sent);
      expect(closed).toBe(false);
      expect(client.connectionId).toBe(connectionId);
      expect(own.gateway.connectionCount).toBe(1); // no disconnect (and no new connect) happened
      const group = envelope(3, "sr-js-room");
      expect((await own.publish([group])).status).toBe(202);
      await waitFor(() => got.some((n) => n.id === group.id), 3000, "group notification after the reattach");
      await client.stop();
    } finally {
      await proxy.close();
    }
  });
});

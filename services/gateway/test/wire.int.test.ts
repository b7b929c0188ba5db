import { buildClient, collect, mintToken, RawWs, sleep, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

const RS = "\x1e";
let gw: TestGateway;
let token: string;

beforeAll(async () => {
  gw = await startGateway({ TIDINGS_MAX_TRANSPORT_BYTES: "65536" });
  token = await mintToken({ sub: "raw-user" });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const wsUrl = () => `${gw.url.replace("http", "ws")}/notifications?access_token=${token}`;

/** A raw client past a successful JSON handshake. */
async function handshaken(protocol = "json"): Promise<RawWs> {
  const ws = await RawWs.open(wsUrl());
  ws.send(`{"protocol":"${protocol}","version":1}${RS}`);
  await waitFor(() => ws.frames.length >= 1, 3000, "handshake response");
  expect(ws.frames[0]!.data.toString()).toBe(`{}${RS}`);
  return ws;
}

/** A stock client that must keep receiving while other connections misbehave. */
async function controlClient() {
  const c = buildClient(gw.url, { token: await mintToken({ sub: "control" }) });
  const got = collect<{ id: string }>(c, "note");
  await c.start();
  return {
    async stillServed() {
      const e = envelope(4, "control");
      expect((await gw.publish([e])).status).toBe(202);
      await waitFor(() => got.some((n) => n.id === e.id), 3000, "control notification");
    },
    stop: () => c.stop(),
  };
}

describe("handshake", () => {
  it("W-HS-01 accepts json v1/v2, messagepack and a case-insensitive protocol name", async () => {
    for (const hs of ['{"protocol":"json","version":1}', '{"protocol":"json","version":2}', '{"protocol":"JSON","version":1}']) {
      const ws = await RawWs.open(wsUrl());
      ws.send(hs + RS);
      await waitFor(() => ws.frames.length === 1);
      expect(ws.frames[0]).toMatchObject({ binary: false });
      expect(ws.frames[0]!.data.toString()).toBe(`{}${RS}`);
      ws.close();
    }
    const mp = await RawWs.open(wsUrl());
    mp.send(`{"protocol":"messagepack","version":1}${RS}`, false);
    await waitFor(() => mp.frames.length === 1);
    expect(mp.frames[0]!.binary).toBe(true);
    expect([...mp.frames[0]!.data]).toEqual([0x7b, 0x7d, 0x1e]);
    mp.close();
  });

  it.each([
    ['{"protocol":"json","version":3}', "The server does not support version 3 of the 'json' protocol.", "W-HS-02"],
    ['{"protocol":"foo","version":1}', "The protocol 'foo' is not supported.", "W-HS-03"],
    ["hello", "An unexpected error occurred during connection handshake.", "W-HS-05"],
    ['{"version":1}', "An unexpected error occurred during connection handshake.", "W-HS-05"],
    ['{"protocol":"json","version":"1"}', "An unexpected error occurred during connection handshake.", "W-HS-05"],
  ])("%s → handshake error (%s) as a Text frame, then close 1000 [%s]", async (hs, error) => {
    const control = await controlClient();
    const ws = await RawWs.open(wsUrl());
    ws.send(hs + RS);
    expect(await ws.closed).toBe(1000);
    expect(ws.frames).toHaveLength(1);
    expect(ws.frames[0]!.binary).toBe(false);
    expect(JSON.parse(ws.frames[0]!.data.toString().replace(RS, ""))).toEqual({ error });
    await control.stillServed();
    await control.stop();
  });

  it("W-HS-04 cancels a handshake without a separator after TIDINGS_MAX_MESSAGE_BYTES", async () => {
    const ws = await RawWs.open(wsUrl());
    ws.send("x".repeat(40_000));
    expect(await ws.closed).toBe(1000);
    expect(ws.text()).toBe(`{"error":"Handshake was canceled."}${RS}`);
  });

  it("W-HS-06 accepts a handshake split over two frames with whitespace and unknown properties", async () => {
    const ws = await RawWs.open(wsUrl());
    ws.send('{ "protocol" : "json",');
    await sleep(50);
    expect(ws.frames).toHaveLength(0);
    ws.send(` "version": 1, "extra": true }${RS}{"type":6}${RS}`);
    await waitFor(() => ws.frames.length === 1);
    expect(ws.frames[0]!.data.toString()).toBe(`{}${RS}`);
    ws.close();
  });
});

describe("bad input after the handshake", () => {
  it.each([
    ["hello" + RS, "Invalid JSON"],
    ['{"type":1,' + RS, "Invalid JSON"],
    [RS, "Invalid JSON"],
    ['{"target":"X"}' + RS, "Invalid message"],
    ['{"type":"1"}' + RS, "Invalid message"],
    ['{"type":1,"target":"X","arguments":{}}' + RS, "Invalid message"],
  ])("W-BAD-02/03 %j → Close %s with allowReconnect, close 1000, others unaffected", async (input, error) => {
    const control = await controlClient();
    const ws = await handshaken();
    ws.send(input);
    expect(await ws.closed).toBe(1000);
    expect(ws.frames.at(-1)!.data.toString()).toBe(JSON.stringify({ type: 7, error, allowReconnect: true }) + RS);
    await control.stillServed();
    await control.stop();
  });

  it("W-BAD-01 a hub message over TIDINGS_MAX_MESSAGE_BYTES closes with Message too large", async () => {
    const ws = await handshaken();
    ws.send(`{"type":1,"target":"Subscribe","arguments":["${"a".repeat(40_000)}"]}${RS}`);
    expect(await ws.closed).toBe(1000);
    expect(ws.frames.at(-1)!.data.toString()).toBe(`{"type":7,"error":"Message too large","allowReconnect":true}${RS}`);
  });

  it("W-BAD-04 invalid MessagePack closes with Invalid MessagePack", async () => {
    const ws = await handshaken("messagepack");
    ws.send(Uint8Array.from([0xff, 0xff, 0xff, 0xff, 0x08]));
    expect(await ws.closed).toBe(1000);
    // [7, "Invalid MessagePack", true]
    const last = ws.frames.at(-1)!;
    expect(last.binary).toBe(true);
    expect(last.data.subarray(1, 3)).toEqual(Buffer.from([0x93, 0x07]));
    expect(last.data.includes(Buffer.from("Invalid MessagePack"))).toBe(true);
  });

  it("W-BAD-05 a frame over TIDINGS_MAX_TRANSPORT_BYTES is closed with 1009", async () => {
    const control = await controlClient();
    const ws = await handshaken();
    ws.send("x".repeat(70_000));
    expect(await ws.closed).toBe(1009);
    await control.stillServed();
    await control.stop();
  });

  it("W-INV-03 an unknown hub method gets a Completion error and the connection stays open", async () => {
    const ws = await handshaken();
    ws.send(`{"type":1,"invocationId":"7","target":"Nope","arguments":[]}${RS}`);
    await waitFor(() => ws.frames.length === 2);
    expect(ws.frames[1]!.data.toString()).toBe(
      `{"type":3,"invocationId":"7","error":"Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist."}${RS}`,
    );
    ws.send(`{"type":1,"invocationId":"8","target":"subscribe","arguments":[{"audienceType":3,"audienceValue":"g"}]}${RS}`);
    await waitFor(() => ws.frames.length === 3);
    expect(ws.frames[2]!.data.toString()).toBe(`{"type":3,"invocationId":"8"}${RS}`);
    expect(ws.closeCode).toBeNull();
    ws.close();
  });

  it("W-WS-04 several messages in one frame and one split across frames; RFC 6455 ping → pong", async () => {
    const ws = await handshaken();
    ws.send(
      `{"type":6}${RS}{"type":1,"invocationId":"a","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"x"}]}${RS}{"type":1,"invocationId":"b","tar`,
    );
    ws.send(`get":"Unsubscribe","arguments":[{"audienceType":3,"audienceValue":"x"}]}${RS}`);
    await waitFor(() => ws.frames.length === 3);
    expect(ws.frames.slice(1).map((f) => f.data.toString())).toEqual([
      `{"type":3,"invocationId":"a"}${RS}`,
      `{"type":3,"invocationId":"b"}${RS}`,
    ]);
    expect((await ws.ping(Buffer.from("hey"))).toString()).toBe("hey");
    ws.close();
  });

  it("W-INV-10 a notification is a JSON Invocation without invocationId, type first", async () => {
    const ws = await handshaken();
    const e = envelope(4, "raw-user", { type: "invoice-ready", body: { a: 1 } });
    expect((await gw.publish([e])).status).toBe(202);
    await waitFor(() => ws.frames.length === 2);
    const text = ws.frames[1]!.data.toString();
    expect(text.startsWith('{"type":1,"target":"invoice-ready","arguments":[{')).toBe(true);
    expect(text).not.toContain("invocationId");
    ws.close();
  });

  it("W-CLOSE-01 a client Close gets a Close back and close 1000", async () => {
    const ws = await handshaken();
    ws.send(`{"type":7}${RS}`);
    expect(await ws.closed).toBe(1000);
    expect(ws.frames.at(-1)!.data.toString()).toBe(`{"type":7}${RS}`);
  });

  it("W-KA-03 a client that pinged once and went silent is closed with Client timeout", async () => {
    await using fast = await startGateway({ TIDINGS_KEEPALIVE_SECONDS: "1", TIDINGS_CLIENT_TIMEOUT_SECONDS: "2" });
    const url = `${fast.url.replace("http", "ws")}/notifications?access_token=${token}`;
    const pinger = await RawWs.open(url);
    const silent = await RawWs.open(url);
    pinger.send(`{"protocol":"json","version":1}${RS}{"type":6}${RS}`);
    silent.send(`{"protocol":"json","version":1}${RS}`);
    expect(await pinger.closed).toBe(1000);
    expect(pinger.frames.at(-1)!.data.toString()).toBe(`{"type":7,"error":"Client timeout","allowReconnect":true}${RS}`);
    // The client that never pinged is never timed out; it has been receiving server Pings.
    expect(silent.closeCode).toBeNull();
    expect(silent.frames.slice(1).every((f) => f.data.toString() === `{"type":6}${RS}`)).toBe(true);
    expect(silent.frames.length).toBeGreaterThanOrEqual(2);
    silent.close();
  });
});

import { mintToken, RawWs, waitFor } from "@tidings/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

/**
 * Cluster mode: the handshake answer waits until the routers acknowledge the connection's automatic
 * audiences, and whatever the client sends meanwhile is held. The held bytes are bounded like a partial
 * hub message (TIDINGS_MAX_MESSAGE_BYTES); under the bound they are processed after the answer, in order.
 * The routers' acknowledgement is a gate the test opens.
 */
const RS = "\x1e";
const MAX = 1024;
let gw: TestGateway;
let token: string;
let acks = 0;
let open!: () => void;
let gate!: Promise<void>;
function closeGate(): void {
  gate = new Promise((resolve) => (open = resolve));
}

beforeAll(async () => {
  closeGate();
  gw = await startGateway(
    { TIDINGS_MAX_MESSAGE_BYTES: String(MAX) },
    {
      membership: {
        add: () => undefined,
        remove: () => undefined,
        acknowledged: () => {
          acks++;
          return gate.then(() => true);
        },
      },
    },
  );
  token = await mintToken({ sub: "held-user" });
});
afterEach(() => {
  open();
  closeGate();
});
afterAll(async () => {
  open();
  await gw[Symbol.asyncDispose]();
});

/** A raw client whose handshake request was taken and now waits for the acknowledgement. */
async function joining(rest = ""): Promise<RawWs> {
  const before = acks;
  const ws = await RawWs.open(`${gw.url.replace("http", "ws")}/notifications?access_token=${token}`);
  ws.send(`{"protocol":"json","version":1}${RS}${rest}`);
  await waitFor(() => acks > before, 3000, "membership acknowledgement asked for");
  return ws;
}

/** `count` Subscribe invocations to groups `${run}-1…`, together exactly `bytes` long (whitespace pads the last one). */
function subscribes(run: string, count: number, bytes: number): string {
  const calls = Array.from(
    { length: count },
    (_, i) =>
      `{"type":1,"invocationId":"${i + 1}","target":"Subscribe","arguments":[{"audienceType":3,"audienceValue":"${run}-${i + 1}"}]}${RS}`,
  );
  const pad = bytes - calls.join("").length;
  expect(pad).toBeGreaterThanOrEqual(0);
  calls[count - 1] = " ".repeat(pad) + calls[count - 1]!;
  return calls.join("");
}

describe("cluster handshake hold", () => {
  it("bytes held while the routers acknowledge, one over TIDINGS_MAX_MESSAGE_BYTES in total, fail the handshake with Message too large", async () => {
    const before = await gw.metric('tidings_gateway_disconnects_total{reason="handshake_failed"}');
    const held = subscribes("over", 3, MAX + 1);
    // Split across the handshake frame and two more, none of them over the bound alone: the sum counts.
    const ws = await joining(held.slice(0, 100));
    ws.send(held.slice(100, 600));
    // Read by the server (a pong follows the frame) and held: no answer, no close yet.
    await ws.ping(Buffer.from("sync"));
    expect(ws.frames).toEqual([]);
    expect(ws.closeCode).toBeNull();
    ws.send(held.slice(600));
    expect(await ws.closed).toBe(1000);
    expect(ws.frames.map((f) => f.data.toString())).toEqual([`{"error":"Message too large"}${RS}`]);
    expect(ws.frames[0]!.binary).toBe(false);
    expect(await gw.metric('tidings_gateway_disconnects_total{reason="handshake_failed"}')).toBe(before + 1);
  });

  it("bytes held while the routers acknowledge, exactly TIDINGS_MAX_MESSAGE_BYTES in total, are processed after the handshake answer, in order", async () => {
    const run = `under-${process.pid}`;
    const held = subscribes(run, 3, MAX);
    // A message cut across frames, the first part riding with the handshake request.
    const ws = await joining(held.slice(0, 100));
    ws.send(held.slice(100, 600));
    ws.send(held.slice(600));
    // The server has read every frame (a pong follows them) and still answers nothing while the gate is shut.
    await ws.ping(Buffer.from("sync"));
    expect(ws.frames).toEqual([]);
    expect(ws.closeCode).toBeNull();
    open();
    await waitFor(() => ws.frames.length >= 4, 3000, "handshake answer and three completions");
    expect(ws.frames.map((f) => f.data.toString())).toEqual([
      `{}${RS}`,
      ...["1", "2", "3"].map((id) => `{"type":3,"invocationId":"${id}"}${RS}`),
    ]);
    // The held Subscribes took effect: a notification to the last group reaches this socket.
    const note = envelope(3, `${run}-3`);
    expect((await gw.publish([note])).status).toBe(202);
    await waitFor(() => ws.text().includes(note.id), 3000, "notification to a group subscribed while held");
    ws.close();
  });
});

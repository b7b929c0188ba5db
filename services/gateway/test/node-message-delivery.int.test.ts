import type { HubConnection } from "@microsoft/signalr";
import { encodeFramedNodeMessage, notificationCodec, toDelivered, validateEnvelope, type Notification } from "@tidings/contracts";
import { jsonProtocol } from "@tidings/protocol";
import { buildClient, collect, RawWs, waitFor } from "@tidings/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

function globalNotification(id: string, body: unknown): Notification {
  const r = validateEnvelope(envelope(1, undefined, { id, body }), { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("fixture envelope invalid");
  return r.notification;
}

/** A router's node message in the notification's JSON (routers before framed messages), delivered as `run-gateway` does. */
function deliverAsNode(gw: TestGateway, n: Notification): boolean {
  return gw.gateway.deliverNodeMessage(notificationCodec.encode(n));
}

/** A framed node message, delivered as `run-gateway` does. */
function deliverFramed(gw: TestGateway, n: Notification): boolean {
  return gw.gateway.deliverNodeMessage(encodeFramedNodeMessage(n));
}

const clients: HubConnection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
});

describe("delivery from node messages in either format (framed, or the notification's JSON with frames spliced from it)", () => {
  let gw: TestGateway;
  beforeAll(async () => {
    gw = await startGateway({ TIDINGS_AUTH_ANONYMOUS: "true" });
  });
  afterAll(() => gw[Symbol.asyncDispose]());

  async function client(protocol: "json" | "messagepack"): Promise<{ conn: HubConnection; got: unknown[] }> {
    const conn = buildClient(gw.url, { protocol });
    clients.push(conn);
    const got = collect(conn, "note");
    await conn.start();
    return { conn, got };
  }

  it("an old-format node message (the notification's JSON) is delivered by this gateway to JSON and MessagePack clients; a repeat is a duplicate", async () => {
    const json = await client("json");
    const msgpack = await client("messagepack");
    const body = { text: 'quote " backslash \\ é 😀', n: 1.5, list: [null, true, { deep: ["x"] }] };
    const fromWire = globalNotification("node-wire-1", body);
    const fromObject = globalNotification("node-object-1", body);
    expect(deliverAsNode(gw, fromWire)).toBe(true);
    expect(gw.gateway.deliver(fromObject)).toBe(true);
    expect(deliverAsNode(gw, fromWire)).toBe(false);
    await waitFor(() => json.got.length === 2 && msgpack.got.length === 2, 5000, "both notifications on both clients");
    for (const got of [json.got, msgpack.got]) expect(got).toEqual([toDelivered(fromWire, false), toDelivered(fromObject, false)]);
  });

  it("a protocol whose last connection left and a new one joined is delivered to again", async () => {
    const first = await client("messagepack");
    await first.conn.stop();
    const json = await client("json");
    expect(deliverAsNode(gw, globalNotification("node-wire-2", { k: 2 }))).toBe(true);
    const again = await client("messagepack");
    expect(deliverAsNode(gw, globalNotification("node-wire-3", { k: 3 }))).toBe(true);
    await waitFor(
      () => json.got.length === 2 && again.got.length === 1,
      5000,
      "deliveries after the MessagePack side emptied and refilled",
    );
    expect((again.got[0] as { id: string }).id).toBe("node-wire-3");
    expect(first.got).toEqual([]);
  });

  it("a framed node message reaches a raw JSON client as exactly the frame jsonProtocol encodes, and MessagePack clients of the same audience as the delivered form", async () => {
    const raw = await RawWs.open(`${gw.url.replace("http", "ws")}/notifications`);
    raw.send(`{"protocol":"json","version":1}\u001e`);
    await waitFor(() => raw.frames.length === 1, 5000, "handshake answer");
    const msgpack = await client("messagepack");
    const json = await client("json");
    const body = { text: 'quote " backslash \\ é 😀 \u2028', n: 1.5, list: [null, true, { deep: ["x"] }] };
    const n = globalNotification("node-framed-1", body);
    expect(deliverFramed(gw, n)).toBe(true);
    expect(deliverFramed(gw, n)).toBe(false);
    // the same id in the other format is the same notification
    expect(deliverAsNode(gw, n)).toBe(false);
    await waitFor(
      () => raw.frames.length === 2 && msgpack.got.length === 1 && json.got.length === 1,
      5000,
      "the framed notification on every client",
    );
    expect(raw.frames[1]!.data.toString("hex")).toBe(
      Buffer.from(jsonProtocol.encodeNotification(n.type, toDelivered(n, false))).toString("hex"),
    );
    expect(msgpack.got).toEqual([toDelivered(n, false)]);
    expect(json.got).toEqual([toDelivered(n, false)]);
    raw.close();
  });

  it("bytes in neither format are refused with a TypeError and deliver nothing", () => {
    expect(() => gw.gateway.deliverNodeMessage(new Uint8Array([0x01, 4, 0, 0]))).toThrow(TypeError);
    expect(() => gw.gateway.deliverNodeMessage(new TextEncoder().encode("not json"))).toThrow(TypeError);
  });
});

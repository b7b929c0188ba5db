import type { HubConnection } from "@microsoft/signalr";
import { notificationCodec, toDelivered, validateEnvelope, type Notification } from "@tidings/contracts";
import { buildClient, collect, waitFor } from "@tidings/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

function globalNotification(id: string, body: unknown): Notification {
  const r = validateEnvelope(envelope(1, undefined, { id, body }), { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("fixture envelope invalid");
  return r.notification;
}

/** What a gateway node does with a router's node message: decode, deliver with the bytes. */
function deliverAsNode(gw: TestGateway, n: Notification): boolean {
  const wire = notificationCodec.encode(n);
  return gw.gateway.deliver(notificationCodec.decode(wire), null, wire);
}

const clients: HubConnection[] = [];
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.stop()));
});

describe("delivery from node-message bytes (frames spliced from the router's encoding)", () => {
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

  it("JSON and MessagePack clients receive the delivered form, as from the notification object; a repeat is a duplicate", async () => {
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
});

import { describe, expect, it } from "vitest";
import { toDelivered } from "./delivered.js";
import { validateEnvelope, type Notification } from "./envelope.js";
import { rememberNotificationJson } from "./json-wire.js";
import { encodeFramedNodeMessage, NodeMessage, notificationCodec, userEventCodec } from "./node-messages.js";

const bytes = (text: string) => new TextEncoder().encode(text);

describe("node messages - codecs shared by publisher and subscriber", () => {
  it("a validated notification survives encode and decode unchanged", () => {
    const r = validateEnvelope(
      {
        id: "n-1",
        type: "invoice-ready",
        routing: { audienceType: 2, audienceValue: "acme" },
        metadata: { producer: "billing", isPersisted: true },
        body: { a: [1, "x"] },
      },
      { now: new Date("2026-01-01T00:00:00Z"), defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(notificationCodec.decode(notificationCodec.encode(r.notification))).toStrictEqual(r.notification);
  });

  it("a gateway node reads either format: the framed message without parsing until asked, the notification's JSON decoded", () => {
    const r = validateEnvelope(
      { id: "n-2", type: "t", routing: { audienceType: 4, audienceValue: "u1" }, metadata: { producer: "p" }, body: [1] },
      { now: new Date("2026-01-01T00:00:00Z"), defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    const n = r.notification;
    const framed = NodeMessage.read(encodeFramedNodeMessage(n));
    const json = NodeMessage.read(notificationCodec.encode(n));
    for (const m of [framed, json]) {
      expect([m.id, m.audienceId, m.audienceType, m.timeStamp()]).toEqual([n.id, n.routing.audienceId, 4, n.metadata.timeStamp]);
      expect(m.notification()).toStrictEqual(n);
    }
    expect(new TextDecoder().decode(framed.jsonFrame ?? undefined)).toBe(
      `{"type":1,"target":"t","arguments":[{"id":"n-2","type":"t","audienceId":"${n.routing.audienceId}","isRead":false,"body":[1],` +
        `"routing":${JSON.stringify(n.routing)},"metadata":${JSON.stringify(n.metadata)}}]}\u001e`,
    );
    expect(json.jsonFrame).toBeNull();
    expect(json.json).not.toBeNull();
  });

  it("framed messages written into shared slabs each keep their own bytes, thousands in a row, persisted (JSON from the save) or live, small or large, ASCII or not", () => {
    const now = new Date("2026-01-01T00:00:00Z");
    const notifications = Array.from({ length: 3000 }, (_, i): Notification => {
      const text = i % 7 === 0 ? "é€😀" : "plain";
      // Every 500th body is larger than a slab may take, so it gets its own buffer.
      const pad = "x".repeat(i % 500 === 499 ? 12_000 : i % 300);
      const r = validateEnvelope(
        {
          id: `n-${i}`,
          type: "invoice-ready",
          routing: { audienceType: 4, audienceValue: `u-${i % 50}` },
          metadata: { producer: "p", isPersisted: i % 2 === 0 },
          body: { i, text, pad },
        },
        { now, defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
      );
      if (!r.ok) throw new Error(JSON.stringify(r.problems));
      return r.notification;
    });
    // Persisted ones are saved first, as the router does: their JSON is the save's.
    notifications.forEach((n) => n.metadata.isPersisted && rememberNotificationJson(n));
    const encoded = notifications.map(encodeFramedNodeMessage);
    notifications.forEach((n, i) => {
      const m = NodeMessage.read(encoded[i]!);
      expect([m.id, m.audienceId, m.audienceType, m.timeStamp()], `message ${i}`).toEqual([
        n.id,
        n.routing.audienceId,
        4,
        n.metadata.timeStamp,
      ]);
      expect(new TextDecoder().decode(m.jsonFrame ?? undefined), `frame ${i}`).toBe(
        `{"type":1,"target":"invoice-ready","arguments":[${JSON.stringify(toDelivered(n, false))}]}\u001e`,
      );
    });
  });

  it("refuses framed bytes that are truncated, name no audience type, or whose frame disagrees with the header", () => {
    const n = notificationCodec.decode(
      bytes(
        '{"id":"x","type":"t","body":null,"routing":{"audienceType":1,"audienceId":"global"},"metadata":{"timeStamp":"2026-01-01T00:00:00.000Z"}}',
      ),
    );
    const good = encodeFramedNodeMessage(n);
    expect(() => NodeMessage.read(good.subarray(0, 5))).toThrow(TypeError);
    expect(() => NodeMessage.read(good.subarray(0, 8 + 1 + 6 + 24))).toThrow(TypeError);
    const noType = good.slice();
    noType[1] = 9;
    expect(() => NodeMessage.read(noType)).toThrow(TypeError);
    const otherId = good.slice();
    otherId[8] = "y".charCodeAt(0);
    expect(() => NodeMessage.read(otherId).notification()).toThrow(TypeError);
  });

  it("refuses bytes that are not a routed notification", () => {
    for (const bad of ["not json", "[]", "null", '{"id":"x"}', '{"id":"x","type":"t","routing":{},"metadata":{}}']) {
      expect(() => notificationCodec.decode(bytes(bad))).toThrow(TypeError);
    }
  });

  it("a user event survives encode and decode; extra properties are dropped", () => {
    const e = { userId: "u-1", target: "EventReadStatusChange", payload: { eventId: "n-1", isRead: true } };
    expect(userEventCodec.decode(userEventCodec.encode(e))).toStrictEqual(e);
    expect(userEventCodec.decode(bytes('{"userId":"u","target":"t","payload":null,"x":1}'))).toStrictEqual({
      userId: "u",
      target: "t",
      payload: null,
    });
  });

  it("refuses a user event without string userId and target", () => {
    for (const bad of ["{}", '{"userId":1,"target":"t"}', '{"userId":"u"}', "[1]", "{"])
      expect(() => userEventCodec.decode(bytes(bad))).toThrow(TypeError);
  });
});

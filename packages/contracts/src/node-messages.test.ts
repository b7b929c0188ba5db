import { describe, expect, it } from "vitest";
import { validateEnvelope } from "./envelope.js";
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

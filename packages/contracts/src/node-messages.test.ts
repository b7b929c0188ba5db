import { describe, expect, it } from "vitest";
import { validateEnvelope } from "./envelope.js";
import { notificationCodec, userEventCodec } from "./node-messages.js";

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

import { describe, expect, it } from "vitest";
import { envelope, fc } from "@tidings/fuzzing";
import {
  encodeFramedNodeMessage,
  NodeMessage,
  notificationCodec,
  toDelivered,
  validateEnvelope,
  type Notification,
} from "@tidings/contracts";
import { jsonProtocol } from "@tidings/protocol";
import { deliveredJsonFrame, liveJsonFrame } from "./delivered-frame.js";

const hex = (b: Uint8Array | null) => (b === null ? null : Buffer.from(b).toString("hex"));

function notification(over: { id?: string; type?: string; audienceId?: string; body?: unknown } = {}): Notification {
  return {
    id: over.id ?? "n-1",
    type: over.type ?? "invoice-ready",
    body: over.body ?? { amount: 149.99, note: "ready" },
    routing: { audienceType: 4, audienceValue: "u1", tenantId: null, audienceId: over.audienceId ?? "user:u1" },
    metadata: { producer: "tests", timeStamp: "2025-01-15T10:00:00.000Z", isPersisted: false, persistedTTL: null },
  };
}

/** The frame from the node-message bytes, and the frame jsonProtocol writes for the delivered object. */
function both(n: Notification): [string | null, string | null] {
  const wire = notificationCodec.encode(n);
  const decoded = notificationCodec.decode(wire);
  return [hex(deliveredJsonFrame(decoded, wire)), hex(jsonProtocol.encodeNotification(decoded.type, toDelivered(decoded, false)))];
}

/** The frame a framed node message carries (as a gateway node reads it), and the frame jsonProtocol writes for the delivered object. */
function framedBoth(n: Notification): [string | null, string | null] {
  const message = NodeMessage.read(encodeFramedNodeMessage(n));
  return [hex(message.jsonFrame), hex(jsonProtocol.encodeNotification(n.type, toDelivered(n, false)))];
}

describe("framed node messages: the live-delivery JSON frame built once by the router", () => {
  it("carries, for any strings and any JSON body, byte for byte the frame jsonProtocol encodes, and decodes back to the notification", () => {
    // printable ASCII (mostly written without escapes: the router's direct path) or any code points
    const text = () => fc.oneof(fc.string(), fc.string({ unit: "binary" }));
    fc.assert(
      fc.property(text(), text(), text(), fc.jsonValue(), (id, type, audienceId, body) => {
        const n = notification({ id, type, audienceId, body });
        const [framed, encoded] = framedBoth(n);
        expect(framed).toBe(encoded);
        const message = NodeMessage.read(encodeFramedNodeMessage(n));
        expect([message.id, message.audienceId, message.audienceType, message.timeStamp()]).toEqual([
          id,
          audienceId,
          n.routing.audienceType,
          n.metadata.timeStamp,
        ]);
        expect(message.notification()).toStrictEqual(JSON.parse(JSON.stringify(n)));
      }),
      { numRuns: 500 },
    );
  });

  it("keeps ids and audience ids exactly, non-ASCII and lone surrogates included", () => {
    for (const [id, audienceId] of [
      ["é\ud800x", "group:\udfff€😀"],
      ["\ud800", "user:u1"],
      ["n-1", "user:ü"],
    ] as const) {
      const n = notification({ id, audienceId });
      const message = NodeMessage.read(encodeFramedNodeMessage(n));
      expect([message.id, message.audienceId, message.timeStamp()]).toEqual([id, audienceId, n.metadata.timeStamp]);
      expect(message.notification()).toStrictEqual(n);
      expect(framedBoth(n)[0]).toBe(framedBoth(n)[1]);
    }
  });

  it("is the same frame when the notification has other members or another order (serialised instead of spliced)", () => {
    const n = notification({ body: { a: 1 } });
    const reordered = { type: n.type, id: n.id, body: n.body, routing: n.routing, metadata: n.metadata };
    expect(framedBoth(reordered)[0]).toBe(framedBoth(n)[0]);
    expect(framedBoth({ ...n, extra: 1 } as Notification)[0]).toBe(framedBoth(n)[0]);
  });
});

describe("deliveredJsonFrame: the live-delivery JSON frame spliced from node-message bytes", () => {
  it("is byte for byte the frame jsonProtocol encodes from the delivered object", () => {
    const [spliced, encoded] = both(notification());
    expect(spliced).not.toBeNull();
    expect(spliced).toBe(encoded);
  });

  it("escapes ids, types and audience ids that JSON must escape, and ids that spell out a body key", () => {
    for (const n of [
      notification({ id: 'x","body":1,"y":"', type: 'a"b\\c\u0001', audienceId: "group:é\u2028€😀" }),
      notification({ id: "body", type: "body" }),
      notification({ body: null }),
      notification({ body: '"body":' }),
    ]) {
      const [spliced, encoded] = both(n);
      expect(spliced).not.toBeNull();
      expect(spliced).toBe(encoded);
    }
  });

  it("equals the encoded frame for any strings and any JSON body", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.string({ unit: "binary" }),
        fc.jsonValue(),
        (id, type, audienceId, body) => {
          const [spliced, encoded] = both(notification({ id, type, audienceId, body }));
          expect(spliced).toBe(encoded);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("declines (null) a notification with other members or another member order", () => {
    const n = notification();
    const wire = notificationCodec.encode(n);
    expect(deliveredJsonFrame({ ...n, extra: 1 } as Notification, wire)).toBeNull();
    const reordered = { type: n.type, id: n.id, body: n.body, routing: n.routing, metadata: n.metadata };
    expect(deliveredJsonFrame(reordered, notificationCodec.encode(reordered))).toBeNull();
  });
});

describe("liveJsonFrame: the live-delivery JSON frame of a notification object, written from a template", () => {
  /** The template's frame, and the frame jsonProtocol writes for the delivered object. */
  const live = (n: Notification): [string | null, string | null] => [
    hex(liveJsonFrame(n)),
    hex(jsonProtocol.encodeNotification(n.type, toDelivered(n, false))),
  ];
  const text = () => fc.oneof(fc.string(), fc.string({ unit: "binary" }), fc.constantFrom("", '"', "\\", "\u2028", "é😀", "\ud800"));

  it("is byte for byte the encoded frame for any strings (escapes, unicode, lone surrogates), optional members absent or present, and any JSON body", () => {
    fc.assert(
      fc.property(
        fc.record({ id: text(), type: text(), audienceValue: text(), audienceId: text(), producer: text(), timeStamp: text() }),
        fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true })),
        fc.option(text()),
        fc.boolean(),
        fc.option(text()),
        fc.jsonValue(),
        (s, audienceType, tenantId, isPersisted, persistedTTL, body) => {
          const n = {
            id: s.id,
            type: s.type,
            body,
            routing: { audienceType, audienceValue: s.audienceValue, tenantId, audienceId: s.audienceId },
            metadata: { producer: s.producer, timeStamp: s.timeStamp, isPersisted, persistedTTL },
          } as Notification;
          const [written, encoded] = live(n);
          expect(written).not.toBeNull();
          expect(written).toBe(encoded);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("is byte for byte the encoded frame of every notification validation makes of a generated envelope", () => {
    let valid = 0;
    fc.assert(
      fc.property(envelope, (e) => {
        const result = validateEnvelope(e, { now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: 1 << 20 });
        if (!result.ok) return;
        valid++;
        const [written, encoded] = live(result.notification);
        expect(written).not.toBeNull();
        expect(written).toBe(encoded);
      }),
      { numRuns: 1000 },
    );
    expect(valid).toBeGreaterThan(50);
  });

  it("declines (null) members of another shape, which the caller encodes from the object", () => {
    const n = notification();
    const declined: Notification[] = [
      { ...n, routing: { ...n.routing, extra: 1 } as Notification["routing"] },
      { ...n, routing: { audienceId: "user:u1", audienceType: 4, audienceValue: "u1", tenantId: null } },
      { ...n, metadata: { ...n.metadata, isPersisted: "yes" } as unknown as Notification["metadata"] },
      {
        ...n,
        metadata: { producer: n.metadata.producer, timeStamp: n.metadata.timeStamp, isPersisted: false } as Notification["metadata"],
      },
      { ...n, routing: { ...n.routing, audienceType: Number.NaN } as unknown as Notification["routing"] },
      { ...n, id: 7 as unknown as string },
      { ...n, body: undefined },
      { ...n, body: { toJSON: (key: string) => key } },
      { ...n, body: new Date(0) },
    ];
    for (const d of declined) {
      expect(liveJsonFrame(d)).toBeNull();
      // the object encode the caller falls back to still writes each of them
      expect(() => jsonProtocol.encodeNotification(d.type, toDelivered(d, false))).not.toThrow();
    }
    // other members of the notification itself are not delivered: the frame is the same
    expect(live({ ...n, extra: 1 } as Notification)[0]).toBe(live(n)[1]);
  });
});

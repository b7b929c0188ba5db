import { describe, expect, it } from "vitest";
import { fc } from "@tidings/fuzzing";
import { notificationCodec, toDelivered, type Notification } from "@tidings/contracts";
import { jsonProtocol } from "@tidings/protocol";
import { deliveredJsonFrame } from "./delivered-frame.js";

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

import { describe, expect, it } from "vitest";
import { toDelivered } from "./delivered.js";
import { HubEvents } from "./hub-events.js";
import { validateEnvelope } from "./envelope.js";

describe("delivered - toDelivered", () => {
  it("produces the docs/contract.md §5 delivered notification, keys in order", () => {
    const r = validateEnvelope(
      {
        id: "billing-invoice-ready-2025-01-15",
        type: "invoice-ready",
        body: { invoiceId: "INV-789", amount: 149.99, currency: "USD" },
        routing: { audienceType: 4, audienceValue: "user-123" },
        metadata: {
          producer: "billing-service",
          timeStamp: "2025-01-15T10:00:00Z",
          isPersisted: true,
          persistedTTL: "2025-02-15T00:00:00Z",
        },
      },
      { now: new Date("2025-01-15T10:00:01Z"), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 },
    );
    if (!r.ok) throw new Error(JSON.stringify(r.problems));
    expect(JSON.stringify(toDelivered(r.notification, false))).toBe(
      '{"id":"billing-invoice-ready-2025-01-15","type":"invoice-ready","audienceId":"user:user-123","isRead":false,' +
        '"body":{"invoiceId":"INV-789","amount":149.99,"currency":"USD"},' +
        '"routing":{"audienceType":4,"audienceValue":"user-123","tenantId":null,"audienceId":"user:user-123"},' +
        '"metadata":{"producer":"billing-service","timeStamp":"2025-01-15T10:00:00.000Z","isPersisted":true,"persistedTTL":"2025-02-15T00:00:00.000Z"}}',
    );
    expect(toDelivered(r.notification, true).isRead).toBe(true);
  });

  it("names the reserved events as Notiway does", () => {
    expect(HubEvents).toStrictEqual({ ReadStatusChange: "EventReadStatusChange", DeletedStatusChange: "EventDeletedStatusChange" });
  });
});

/**
 * The notification every fan-out harness sends: a ~200-byte producer body, Global audience. Ids have a
 * fixed width so every notification encodes to the same number of bytes, and the baselines publish
 * exactly the bytes the gateway produces.
 */
import { toDelivered, userAudience, validateEnvelope, type DeliveredNotification, type Notification } from "@tidings/contracts";
import { jsonProtocol, messagePackProtocol } from "@tidings/protocol";

export const BENCH_TYPE = "invoice-ready";

/** 206 bytes of JSON: a typical "something happened, here is where to look" notification. */
export const BENCH_BODY = {
  invoiceId: "INV-000123",
  customer: "c-4711",
  amount: 149.99,
  currency: "EUR",
  status: "ready",
  url: "https://billing.example.com/invoices/INV-000123",
  lines: 3,
  note: "Your invoice is ready to download.",
};

export function benchId(i: number): string {
  return `n-${String(i).padStart(8, "0")}`;
}

/** The producer's envelope (what HTTP ingest takes), numbered `i`: Global, or to one user. */
export function benchEnvelope(i: number, user?: string): Record<string, unknown> {
  const routing = user === undefined ? { audienceType: 1 } : { audienceType: 4, audienceValue: user };
  return { id: benchId(i), type: BENCH_TYPE, body: BENCH_BODY, routing, metadata: { producer: "bench" } };
}

/** A validated notification (what the gateway's `deliver` takes), numbered `i`: Global, or to one user. */
export function benchNotification(i: number, now = new Date(), user?: string): Notification {
  const result = validateEnvelope(benchEnvelope(i, user), { now, defaultTtlSeconds: 1800, maxNotificationBytes: 65536 });
  if (!result.ok) throw new Error(`bench envelope invalid: ${JSON.stringify(result.problems)}`);
  return result.notification;
}

/**
 * `count` notifications differing only by id: Global, or to `users` round robin (one template per
 * user, validated once).
 */
export function benchNotifications(count: number, users?: readonly string[]): Notification[] {
  const now = new Date();
  const templates =
    users === undefined || users.length === 0 ? [benchNotification(0, now)] : users.map((u) => benchNotification(0, now, u));
  const out: Notification[] = new Array<Notification>(count);
  for (let i = 0; i < count; i++) out[i] = { ...templates[i % templates.length]!, id: benchId(i + 1) };
  return out;
}

export function benchDelivered(user?: string): DeliveredNotification {
  return toDelivered(benchNotification(0, new Date(), user), false);
}

/** The exact frame bytes the gateway sends for one bench notification, per protocol (Global, or to `user`). */
export function benchFrame(protocol: "json" | "msgpack", user?: string): Uint8Array {
  const codec = protocol === "json" ? jsonProtocol : messagePackProtocol;
  return codec.encodeNotification(BENCH_TYPE, benchDelivered(user));
}

/**
 * The JSON hub frame of a live delivery to `user`, written the way a bare server that delivers what it
 * received would write it: one template, every string through `JSON.stringify`, the body serialised,
 * `timeStamp` the time of acceptance. The same bytes as the gateway's frame for the same notification (a
 * test pins it), so the one-receiver baselines publish what the gateway publishes and pay for writing it.
 */
export function userFrame(id: string, type: string, body: unknown, user: string, producer: string, timeStamp: string): string {
  const target = JSON.stringify(type);
  const audienceId = JSON.stringify(userAudience(user));
  return (
    `{"type":1,"target":${target},"arguments":[{"id":${JSON.stringify(id)},"type":${target},"audienceId":${audienceId},` +
    `"isRead":false,"body":${JSON.stringify(body)},"routing":{"audienceType":4,"audienceValue":${JSON.stringify(user)},` +
    `"tenantId":null,"audienceId":${audienceId}},"metadata":{"producer":${JSON.stringify(producer)},` +
    `"timeStamp":"${timeStamp}","isPersisted":false,"persistedTTL":null}}]}\u001e`
  );
}

/** What `benchEnvelope(i, user)` returns, as a server reads it back from JSON. */
export interface BenchUserEnvelope {
  id: string;
  type: string;
  body: unknown;
  routing: { audienceType: 4; audienceValue: string };
  metadata: { producer: string };
}

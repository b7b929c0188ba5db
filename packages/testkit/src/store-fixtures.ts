/**
 * Notifications and times of the store conformance suite, shared with backend tests and their child
 * processes (no test runner here).
 */
import type { Notification } from "@tidings/contracts";

/** The store's clock in every test: saves are "expired" at or before this instant. */
export const STORE_T0 = new Date("2030-01-01T00:00:00.000Z");

/** Seconds after T0 as an ISO string. */
export function afterT0(seconds: number): string {
  return new Date(STORE_T0.getTime() + seconds * 1000).toISOString();
}

/** A persisted notification to the audience `key` (`global`, `tenant:t`, `group:g`, `group:t:g`, `user:u`). */
export function storedNote(key: string, id: string, opts: { ts?: number; ttl?: number; body?: unknown; type?: string } = {}): Notification {
  const [kind, a, b] = key.split(":");
  const routing: Notification["routing"] =
    kind === "global"
      ? { audienceType: 1, audienceValue: "global", tenantId: null, audienceId: key }
      : kind === "tenant"
        ? { audienceType: 2, audienceValue: a!, tenantId: a!, audienceId: key }
        : kind === "group"
          ? b === undefined
            ? { audienceType: 3, audienceValue: a!, tenantId: null, audienceId: key }
            : { audienceType: 3, audienceValue: b, tenantId: a!, audienceId: key }
          : { audienceType: 4, audienceValue: a!, tenantId: null, audienceId: key };
  return {
    id,
    type: opts.type ?? "invoice-ready",
    body: opts.body === undefined ? { id } : opts.body,
    routing,
    metadata: { producer: "billing", timeStamp: afterT0(opts.ts ?? 0), isPersisted: true, persistedTTL: afterT0(opts.ttl ?? 3600) },
  };
}

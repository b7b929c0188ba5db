import { timingSafeEqual } from "node:crypto";
import type { HttpResponse } from "uWebSockets.js";
import { isLoopbackHost } from "./ingest-guard.js";
import { isLoopback, type Reply } from "./respond.js";

/** Producer credentials of the ingest API and the per-user read API: TIDINGS_INGEST_KEYS, or loopback without keys. */
export interface ProducerAuth {
  /** A configured key as `Authorization: Bearer`, compared in constant time; without keys, a loopback peer. */
  authorised(authorization: string, res: HttpResponse): boolean;
  /**
   * Without producer keys, loopback is the credential; a request must then also name a loopback host,
   * or a page on a DNS name rebound to 127.0.0.1 could use it from the user's browser.
   */
  hostAllowed(host: string): boolean;
  refuseHost(reply: Reply): void;
}

export function createProducerAuth(keys: readonly string[]): ProducerAuth {
  const ingestKeys = keys.map((k) => Buffer.from(k));
  let lastHost = "";
  let lastHostAllowed = isLoopbackHost(lastHost);
  return {
    authorised(authorization, res) {
      if (ingestKeys.length === 0) return isLoopback(res);
      const presented = /^Bearer\s+(.+)$/i.exec(authorization.trim())?.[1];
      if (presented === undefined) return false;
      const candidate = Buffer.from(presented);
      return ingestKeys.some((k) => k.length === candidate.length && timingSafeEqual(k, candidate));
    },
    hostAllowed(host) {
      if (ingestKeys.length > 0) return true;
      // A producer names the same Host request after request: its answer is kept, not matched again.
      if (host !== lastHost) {
        lastHost = host;
        lastHostAllowed = isLoopbackHost(host);
      }
      return lastHostAllowed;
    },
    refuseHost(reply) {
      reply.apiError(403, "forbidden", "Without producer keys, requests must name a loopback host (localhost, 127.0.0.1 or [::1]).");
    },
  };
}

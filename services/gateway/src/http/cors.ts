import type { HttpResponse } from "uWebSockets.js";

const ALLOW_METHODS = "GET, POST, DELETE";
const NONE: ReadonlyArray<readonly [string, string]> = [];
const ALLOW_HEADERS = "Authorization, Content-Type, X-Requested-With, X-SignalR-User-Agent";

/**
 * CORS for browsers on other origins: an allowed origin is echoed exactly with credentials allowed,
 * never `*` (SignalR clients send credentials). Unlisted origins get no CORS headers.
 */
export class Cors {
  readonly #allowed: ReadonlySet<string>;
  constructor(origins: readonly string[]) {
    this.#allowed = new Set(origins);
  }

  isAllowed(origin: string): boolean {
    return origin !== "" && this.#allowed.has(origin);
  }

  /** Headers for a normal response to a request with this Origin (one shared empty list for most requests: no Origin). */
  headers(origin: string): ReadonlyArray<readonly [string, string]> {
    if (!this.isAllowed(origin)) return NONE;
    return [
      ["Access-Control-Allow-Origin", origin],
      ["Access-Control-Allow-Credentials", "true"],
      ["Vary", "Origin"],
    ];
  }

  /** Answers a preflight with 204. */
  preflight(res: HttpResponse, origin: string): void {
    res.cork(() => {
      res.writeStatus("204 No Content");
      for (const [k, v] of this.headers(origin)) res.writeHeader(k, v);
      if (this.isAllowed(origin)) {
        res.writeHeader("Access-Control-Allow-Methods", ALLOW_METHODS);
        res.writeHeader("Access-Control-Allow-Headers", ALLOW_HEADERS);
        res.writeHeader("Access-Control-Max-Age", "600");
      }
      res.end();
    });
  }
}

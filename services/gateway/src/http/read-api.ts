import { GLOBAL_AUDIENCE, StoreUnavailableError, tenantAudience, userAudience, type NotificationStore } from "@tidings/contracts";
import { AuthError, extractToken, type Authenticator } from "../auth.js";
import { parseQuery } from "./query.js";
import type { Reply } from "./respond.js";

const DEFAULT_LIMIT = 50;
const MAX_LIMIT = 100;

/**
 * The read API (docs/contract.md §8): a user's stored notifications with read flags and unread count, newest
 * first, covering Global, the user's own audience and the listed tenants.
 */
export function createReadApi(deps: { store: NotificationStore | undefined; authenticate: Authenticator; onUnauthorized: () => void }) {
  async function list(reply: Reply, method: string, query: string, userId: string, tenants: readonly string[]): Promise<void> {
    if (method !== "GET") return reply.apiError(405, "method_not_allowed", "Use GET.", {}, [["Allow", "GET"]]);
    const store = deps.store;
    if (store === undefined) return reply.apiError(503, "unavailable", "This node has no notification store.");
    const params = parseQuery(query);
    const limitText = params.get("limit");
    const limit = limitText === undefined ? DEFAULT_LIMIT : Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > MAX_LIMIT) {
      return reply.apiError(400, "invalid_query", `limit must be an integer from 1 to ${MAX_LIMIT}.`);
    }
    const unreadText = params.get("unread");
    if (unreadText !== undefined && unreadText !== "true" && unreadText !== "false") {
      return reply.apiError(400, "invalid_query", "unread must be true or false.");
    }
    const audiences = [GLOBAL_AUDIENCE, userAudience(userId), ...tenants.map(tenantAudience)];
    let page;
    try {
      page = await store.listForUser({
        userId,
        audiences,
        unreadOnly: unreadText === "true",
        limit,
        cursor: params.get("cursor") ?? null,
        now: new Date(),
      });
    } catch (err) {
      if (err instanceof RangeError) return reply.apiError(400, "invalid_query", err.message);
      // An outage of the store service, not a bug: the caller is told to retry, as HTTP ingest does.
      if (err instanceof StoreUnavailableError)
        return reply.apiError(503, "unavailable", "The notification store is not answering; retry later.", {}, [["Retry-After", "1"]]);
      throw err;
    }
    reply.json(200, page);
  }

  return {
    /** GET /api/users/{userId}/notifications?tenants=a,b — the caller holds a producer key (checked by the router). */
    user(reply: Reply, method: string, query: string, userId: string): Promise<void> {
      const tenants = (parseQuery(query).get("tenants") ?? "").split(",").filter((t) => t !== "");
      return list(reply, method, query, userId, tenants);
    },
    /** GET /api/me/notifications — the caller's own, tenants from the token's claim. */
    async me(reply: Reply, method: string, query: string, authorization: string): Promise<void> {
      let identity;
      try {
        identity = await deps.authenticate(extractToken(authorization, parseQuery(query).get("access_token") ?? null));
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        deps.onUnauthorized();
        return reply.apiError(401, "unauthorized", err.message, {}, [["WWW-Authenticate", `Bearer error="invalid_token"`]]);
      }
      if (identity.userId === null)
        return reply.apiError(401, "unauthorized", "A user token is required.", {}, [["WWW-Authenticate", "Bearer"]]);
      return list(reply, method, query, identity.userId, identity.tenants);
    },
  };
}

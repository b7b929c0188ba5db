import type { UnexpectedSource } from "@tidings/observability";
import type { HttpRequest, HttpResponse } from "uWebSockets.js";
import { readForwardedHeaders } from "../cluster/forward-codec.js";
import type { Forwarder } from "../cluster/forwarding.js";
import type { Cors } from "./cors.js";
import type { HubRequestHandler } from "./hub-request.js";
import type { InboxPage } from "./inbox-page.js";
import type { IngestRequest } from "./ingest-api.js";
import { wrongListener, type Listener } from "./listeners.js";
import type { NegotiateHandler } from "./negotiate.js";
import type { ProducerAuth } from "./producer-auth.js";
import { normalisePath } from "./query.js";
import type { createReadApi } from "./read-api.js";
import { answerInternalError, INTERNAL_ERROR_MESSAGE, readBody, Reply } from "./respond.js";

export interface RoutesDeps {
  cors: Cors;
  negotiate: NegotiateHandler;
  /** SSE, long polling, their POSTs and DELETE on the hub path, for connections this node owns */
  hubRequest: HubRequestHandler;
  /** present in a cluster: hub requests for connections another node owns are relayed to it */
  forwarder: Forwarder | null;
  ingest(reply: Reply, req: IngestRequest, liveOnly: boolean, fail: (err: unknown) => void): void;
  readApi: ReturnType<typeof createReadApi>;
  producerAuth: ProducerAuth;
  /** TIDINGS_TESTING: serves /test/notifications */
  testing: boolean;
  /** TIDINGS_MAX_TRANSPORT_BYTES: largest POST body relayed to another node */
  maxTransportBytes: number;
  draining(): boolean;
  reportUnexpected: (err: unknown, source: UnexpectedSource) => void;
  /** TIDINGS_API_PORT is set and differs from the main port: `/api/*` answers only on the API listener */
  separateApi: boolean;
  /** `/inbox` and its files (development); null → not served */
  inboxPage: InboxPage | null;
}

/**
 * The HTTP route table (every non-upgrade request):
 *   /notifications/negotiate              negotiate
 *   /notifications                        SSE, long polling, POST, DELETE (local or relayed to the owner)
 *   /api/notifications                    producer ingest
 *   /test/notifications                   live-only ingest (TIDINGS_TESTING)
 *   /api/me/notifications                 the caller's notifications (hub credential)
 *   /api/users/{userId}/notifications     a user's notifications (producer credential)
 *   /healthz, /readyz                     liveness, and readiness (false while draining)
 *   /inbox, /inbox/*                      the inbox page (development only)
 * With a separate API port, `/api/*` answers only on the API listener and the rest only on the main one
 * (health on both).
 * A synchronous throw is answered 500 here (uWS must see a response or an abort handler before the
 * handler returns), an asynchronous one by `fail`.
 */
export function createRouter(deps: RoutesDeps): (res: HttpResponse, req: HttpRequest, listener: Listener) => void {
  const { cors, forwarder, readApi, producerAuth, reportUnexpected } = deps;

  function routeRequest(res: HttpResponse, req: HttpRequest, rawPath: string, path: string): void {
    const method = req.getCaseSensitiveMethod().toUpperCase();
    const query = req.getQuery() ?? "";
    const origin = req.getHeader("origin");
    const authorization = req.getHeader("authorization");
    const isHubPath = path === "/notifications" || path === "/notifications/negotiate";
    if (method === "OPTIONS" && (isHubPath || rawPath.startsWith("/api/"))) return cors.preflight(res, origin);
    const reply = new Reply(res, cors.headers(origin));
    const fail = failureOf(reply, isHubPath, reportUnexpected);
    if (path === "/notifications/negotiate") return void deps.negotiate(reply, method, query, authorization).catch(fail);
    if (path === "/notifications") {
      // Local or relayed, the body is read from here, before any await: uWS delivers it only to a handler registered synchronously.
      const owner = forwarder === null ? null : forwarder.remoteOwner(method, query);
      if (forwarder === null || owner === null)
        return void deps
          .hubRequest(reply, { method, query, accept: req.getHeader("accept"), authorization, readBody: (limit) => readBody(reply, limit) })
          .catch(fail);
      const body = method === "POST" ? readBody(reply, deps.maxTransportBytes) : null;
      body?.catch(() => undefined); // awaited by the relay; until then a rejection must not count as unhandled
      return void forwarder.relay(reply, { method, path, query, headers: readForwardedHeaders(req), body }, owner).catch(fail);
    }
    const contentType = req.getHeader("content-type");
    const host = req.getHeader("host");
    switch (rawPath) {
      case "/api/notifications":
        return deps.ingest(reply, { method, authorization, contentType, host }, false, fail);
      case "/test/notifications":
        if (deps.testing) return deps.ingest(reply, { method, authorization, contentType, host }, true, fail);
        break;
      case "/api/me/notifications":
        return void readApi.me(reply, method, query, authorization).catch(fail);
      case "/healthz":
        return reply.json(200, { status: "ok" });
      case "/readyz":
        return deps.draining() ? reply.apiError(503, "draining", "This node is shutting down.") : reply.json(200, { status: "ready" });
    }
    const userPath = /^\/api\/users\/([^/]+)\/notifications$/.exec(rawPath);
    if (userPath !== null) {
      if (!producerAuth.authorised(authorization, res))
        return reply.apiError(401, "unauthorized", "A valid producer key is required (Authorization: Bearer <key>).");
      if (!producerAuth.hostAllowed(host)) return producerAuth.refuseHost(reply);
      let userId: string;
      try {
        userId = decodeURIComponent(userPath[1]!);
      } catch {
        return reply.apiError(400, "invalid_path", "The user id in the path is not valid percent-encoded UTF-8.");
      }
      // No user id holds NUL (the store cannot keep one); refused as a bad path rather than by the store.
      if (userId.includes("\u0000")) return reply.apiError(400, "invalid_path", "The user id in the path must not contain NUL (%00).");
      return void readApi.user(reply, method, query, userId).catch(fail);
    }
    if (deps.inboxPage?.serve(reply, method, rawPath, query) === true) return;
    reply.apiError(404, "not_found", `No endpoint at ${rawPath}.`);
  }

  return (res, req, listener) => {
    const rawPath = req.getUrl();
    if (wrongListener(deps.separateApi, listener, rawPath)) return new Reply(res).apiError(404, "not_found", `No endpoint at ${rawPath}.`);
    const path = normalisePath(rawPath);
    try {
      routeRequest(res, req, rawPath, path);
    } catch (err) {
      reportUnexpected(err, "http");
      answerInternalError(res, path.startsWith("/notifications"));
    }
  };
}

/**
 * How an asynchronous handler's unexpected error is answered: reported, then 500, empty on hub paths
 * (as ASP.NET answers), else with the /api error body. Made by a function, not declared in the route
 * handler: a named closure per request costs a property definition under tsx (its keep-names helper).
 */
function failureOf(reply: Reply, isHubPath: boolean, reportUnexpected: RoutesDeps["reportUnexpected"]): (err: unknown) => void {
  return (err) => {
    reportUnexpected(err, "http");
    if (isHubPath) reply.text(500);
    else reply.apiError(500, "internal", INTERNAL_ERROR_MESSAGE);
  };
}

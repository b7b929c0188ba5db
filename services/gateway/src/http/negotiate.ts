import { encodeNegotiateError, encodeNegotiateResponse, parseNegotiateQuery, type TransportName } from "@tidings/protocol";
import type { Admission } from "./admission.js";
import { parseQuery } from "./query.js";
import type { Reply } from "./respond.js";

export interface NegotiateOptions {
  admission: Admission;
  /** transports this node serves (implemented and in TIDINGS_TRANSPORTS), offered in this order */
  transports: readonly TransportName[];
  /** TIDINGS_STATEFUL_RECONNECT: offered only when the client asks for it too */
  statefulReconnect: boolean;
  /** true while the node drains: no new connection */
  draining(): boolean;
}

export type NegotiateHandler = (reply: Reply, method: string, query: string, authorization: string) => Promise<void>;

/**
 * POST /notifications/negotiate (docs/protocol.md §2): creates a negotiated connection and answers its id,
 * token and the transports offered. A bad version is answered 200 with only an `error` key and creates nothing.
 */
export function createNegotiateHandler(options: NegotiateOptions): NegotiateHandler {
  const { admission } = options;
  return async (reply, method, query, authorization) => {
    if (method !== "POST") return reply.text(405);
    if (options.draining()) return reply.text(503, "Server is shutting down");
    const request = parseNegotiateQuery(query);
    if (!request.ok) return reply.send(200, encodeNegotiateError(request.error), [["Content-Type", "application/json"]]);
    const identity = await admission.identify(reply, authorization, parseQuery(query));
    if (identity === null || reply.aborted) return;
    if (admission.overUserLimit(identity)) return reply.text(429, "Too many connections for this user");
    const connection = admission.open(identity, request.version);
    connection.statefulOffered = request.statefulReconnect && options.statefulReconnect;
    reply.send(
      200,
      encodeNegotiateResponse({
        version: request.version,
        connectionId: connection.id,
        connectionToken: connection.token,
        transports: options.transports,
        statefulReconnect: connection.statefulOffered,
      }),
      [["Content-Type", "application/json"]],
    );
  };
}

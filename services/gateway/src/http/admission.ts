import { mintId } from "@tidings/contracts";
import { AuthError, extractToken, type Authenticator, type Identity } from "../auth.js";
import type { ConnectionTable } from "../connection-table.js";
import { HubConnection, type ConnectionHost } from "../connection.js";
import type { ResponseSink } from "./respond.js";

export interface AdmissionOptions {
  authenticate: Authenticator;
  /** a hub credential was refused with 401 */
  onUnauthorized(): void;
  table: ConnectionTable;
  nodeId: string;
  host: ConnectionHost;
  maxConnectionsPerUser: number;
}

/**
 * Who may open a hub connection, start a transport on one, or act on it: negotiate, the WebSocket
 * endpoint and the HTTP transports share these checks, so they refuse alike (401 vs 403, the limit).
 */
export interface Admission {
  /** Authenticates a request that opens a connection or starts a transport; answers 401 itself and returns null on refusal. */
  identify(reply: ResponseSink, authorization: string, query: Map<string, string>): Promise<Identity | null>;
  /** 401 before any upgrade; the reason goes in WWW-Authenticate (RFC 6750), the body stays empty. */
  unauthorized(reply: ResponseSink, reason: string): void;
  /** A request for a connection of another user: 401 when it carries no credential (anonymous), 403 when it carries a valid one of someone else. */
  refuseOtherUser(reply: ResponseSink, identity: Identity): void;
  /**
   * Later requests of a connection are authorized by its id (docs/protocol.md §2.3): a credential, when present, must be of the
   * connection's user (an expired one still names it); a version-0 id is public, so an authenticated
   * version-0 connection needs a credential. Answers 401/403 itself and returns false on refusal.
   */
  authorizeLater(reply: ResponseSink, connection: HubConnection, authorization: string, query: Map<string, string>): Promise<boolean>;
  /** True when `identity` already holds TIDINGS_MAX_CONNECTIONS_PER_USER connections (anonymous: never). */
  overUserLimit(identity: Identity): boolean;
  /** A new negotiated connection in the table; `version` 1 gets a token distinct from the id, null is skipNegotiation. */
  open(identity: Identity, version: 0 | 1 | null): HubConnection;
}

export function createAdmission(options: AdmissionOptions): Admission {
  const { authenticate, table, nodeId, host } = options;

  function unauthorized(reply: ResponseSink, reason: string): void {
    options.onUnauthorized();
    reply.unauthorized(reason);
  }

  return {
    unauthorized,
    async identify(reply, authorization, query) {
      try {
        return await authenticate(extractToken(authorization, query.get("access_token") ?? null));
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        unauthorized(reply, err.message);
        return null;
      }
    },
    refuseOtherUser(reply, identity) {
      if (identity.userId === null) unauthorized(reply, "no access token");
      else reply.send(403);
    },
    async authorizeLater(reply, connection, authorization, query) {
      const token = extractToken(authorization, query.get("access_token") ?? null);
      if (token === null) {
        if (connection.negotiateVersion !== 0 || connection.identity.userId === null) return true;
        unauthorized(reply, "no access token");
        return false;
      }
      let identity: Identity;
      try {
        identity = await authenticate(token, { acceptExpired: true });
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        unauthorized(reply, err.message);
        return false;
      }
      if (identity.userId === connection.identity.userId) return true;
      reply.send(403);
      return false;
    },
    overUserLimit: (identity) => identity.userId !== null && table.connectionsOf(identity.userId) >= options.maxConnectionsPerUser,
    open(identity, version) {
      const id = mintId(nodeId);
      const token = version === 1 ? mintId(nodeId) : id;
      const connection = new HubConnection(host, id, token, version, identity, Date.now());
      table.add(connection);
      return connection;
    },
  };
}

import {
  AudienceType,
  GLOBAL_AUDIENCE,
  HubEvents,
  HubMethodError,
  parseAudienceRequest,
  userAudience,
  type AudienceRequest,
  type NotificationStore,
} from "@tidings/contracts";
import type { HubConnection, HubDispatch, HubMethod } from "./connection.js";
import type { TenantValidator } from "./tenant-validation.js";

/** Declared wire type of one hub method parameter (docs/protocol.md §9: count and types are checked before running). */
type ParamType = "object" | "string";

/** Audience membership on this node: the fan-out layer turns joins into topic subscriptions. */
export interface Membership {
  /** Adds the connection to audience `key`; with `subscribeTopic` false its transport subscribes only at `subscribeTopics`. */
  join(connection: HubConnection, key: string, subscribeTopic?: boolean): void;
  leave(connection: HubConnection, key: string): void;
  /** Subscribes the connection's transport to the topics of every audience it has joined. */
  subscribeTopics(connection: HubConnection): void;
}

export interface HubOptions {
  maxSubscriptions: number;
  membership: Membership;
  tenantValidator: TenantValidator;
  /**
   * Cluster mode: resolves once the routers route by this node's current memberships (bounded); a
   * Subscribe completes only after it, so a notification accepted after the completion reaches the
   * connection whichever node took it.
   */
  membershipAcknowledged?: () => Promise<void>;
  /** Runs after a successful Subscribe, before its completion: the replay of stored notifications (docs/contract.md §4). */
  onSubscribed?: (connection: HubConnection, key: string) => Promise<void>;
  /** Read state (docs/contract.md §4 MarkAs…); without a store those methods do not exist. */
  store?: NotificationStore;
  /** Sends a read-state event to every connection of `userId`, on every node. */
  publishUserEvent?: (userId: string, target: string, payload: unknown) => void;
}

/** The three read-state methods and the change each one makes. */
const STATE_METHODS = [
  ["MarkAsRead", { read: true }],
  ["MarkAsUnread", { read: false }],
  ["MarkAsDeleted", { deleted: true }],
] as const;

function method(name: string, params: readonly ParamType[], run: HubMethod["run"]): HubMethod {
  return {
    name,
    bind(args) {
      if (args.length !== params.length) {
        return `InvalidDataException: Invocation provides ${args.length} argument(s) but target expects ${params.length}.`;
      }
      for (let i = 0; i < params.length; i++) {
        const value = args[i];
        const ok =
          params[i] === "string" ? typeof value === "string" : typeof value === "object" && value !== null && !Array.isArray(value);
        if (!ok) {
          return "InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.";
        }
      }
      return null;
    },
    run,
  };
}

/** The notification hub: automatic audiences on connect and the client-callable methods of docs/contract.md §4. */
export class Hub implements HubDispatch {
  readonly #methods = new Map<string, HubMethod>();

  constructor(private readonly options: HubOptions) {
    this.register(method("Subscribe", ["object"], (c, args, now) => this.#subscribe(c, args[0], now)));
    this.register(method("Unsubscribe", ["object"], (c, args) => this.#unsubscribe(c, args[0])));
    if (options.store !== undefined) {
      const store = options.store;
      for (const [name, change] of STATE_METHODS) {
        this.register(
          method(name, ["string", "string"], (c, args, now) => this.#setState(store, c, args[0] as string, args[1] as string, change, now)),
        );
      }
    }
  }

  /** Adds a method; names match case-insensitively (ASCII), as in ASP.NET. */
  register(m: HubMethod): void {
    this.#methods.set(m.name.toLowerCase(), m);
  }

  find(target: string): HubMethod | undefined {
    return this.#methods.get(target.toLowerCase());
  }

  /**
   * Automatic audiences: Global, the user's own, and the connection itself (delivered by id, no topic).
   * In a cluster, resolves once the routers acknowledged them; only then does the transport subscribe to
   * their topics, in the same turn as the handshake answer, so nothing reaches the client before it.
   */
  onConnected(connection: HubConnection): Promise<void> | null {
    const acknowledged = this.options.membershipAcknowledged;
    const membership = this.options.membership;
    const now = acknowledged === undefined;
    membership.join(connection, GLOBAL_AUDIENCE, now);
    if (connection.identity.userId !== null) membership.join(connection, userAudience(connection.identity.userId), now);
    if (now) return null;
    const subscribe = () => membership.subscribeTopics(connection);
    // A failed wait completes the join as a timed-out one does: the routers learn it moments later.
    return acknowledged().then(subscribe, subscribe);
  }

  async #subscribe(connection: HubConnection, arg: unknown, now: number): Promise<undefined> {
    assertTokenFresh(connection, now);
    const request = parseAudienceRequest(arg);
    await this.#authorise(connection, request);
    if (
      !connection.audiences.has(request.key) &&
      connection.audiences.size >= this.options.maxSubscriptions + automaticAudienceCount(connection)
    ) {
      throw new HubMethodError("Throttled", `a connection may join at most ${this.options.maxSubscriptions} audiences`);
    }
    this.options.membership.join(connection, request.key);
    // The replay and the routers' acknowledgement overlap; the completion waits for both.
    await Promise.all([this.options.membershipAcknowledged?.(), this.options.onSubscribed?.(connection, request.key)]);
    return undefined;
  }

  async #unsubscribe(connection: HubConnection, arg: unknown): Promise<undefined> {
    const request = parseAudienceRequest(arg);
    this.options.membership.leave(connection, request.key);
    return undefined;
  }

  async #setState(
    store: NotificationStore,
    connection: HubConnection,
    audienceId: string,
    notificationId: string,
    change: { read: boolean } | { deleted: true },
    now: number,
  ): Promise<undefined> {
    assertTokenFresh(connection, now);
    const userId = connection.identity.userId;
    if (userId === null) throw new HubMethodError("Unauthorized", "anonymous connections have no read state");
    if (audienceId === "" || notificationId === "")
      throw new HubMethodError("WrongInput", "audienceId and notificationId must be non-empty strings");
    // No notification id holds NUL (ingest refuses it, the store cannot keep it): a malformed argument.
    if (notificationId.includes("\u0000")) throw new HubMethodError("WrongInput", "notificationId must not contain NUL characters.");
    if (!connection.audiences.has(audienceId) && audienceId !== connection.id) {
      throw new HubMethodError("Forbidden", `this connection is not a member of audience '${audienceId}'`);
    }
    const result = await store.setState({ userId, audienceId, notificationId, now: new Date(now), ...change });
    if (!result.found) throw new HubMethodError("NotFound", `no stored notification '${notificationId}' in audience '${audienceId}'`);
    if (!result.changed) return undefined;
    const event =
      "deleted" in change
        ? {
            target: HubEvents.DeletedStatusChange,
            payload: { eventId: notificationId, audienceId, isDeleted: true, changedAt: result.changedAt },
          }
        : {
            target: HubEvents.ReadStatusChange,
            payload: { eventId: notificationId, audienceId, isRead: change.read, changedAt: result.changedAt },
          };
    this.options.publishUserEvent?.(userId, event.target, event.payload);
    return undefined;
  }

  async #authorise(connection: HubConnection, request: AudienceRequest): Promise<void> {
    const tenant = request.tenantToValidate;
    if (tenant === null) return;
    const userId = connection.identity.userId;
    if (userId === null) throw new HubMethodError("Unauthorized", "anonymous connections cannot join tenant audiences");
    if (!(await this.options.tenantValidator(userId, tenant, connection.identity.tenants))) {
      const what = request.audienceType === AudienceType.Tenant ? "tenant" : "tenant group";
      throw new HubMethodError("Forbidden", `you are not allowed to join ${what} '${tenant}'`);
    }
  }
}

function automaticAudienceCount(connection: HubConnection): number {
  return connection.identity.userId === null ? 1 : 2;
}

/** After the token's `exp`, hub calls fail with Unauthorized; deliveries continue (docs/contract.md §2). */
export function assertTokenFresh(connection: HubConnection, now: number): void {
  const expiresAt = connection.identity.expiresAt;
  if (expiresAt !== null && now >= expiresAt)
    throw new HubMethodError("Unauthorized", "the access token has expired; reconnect with a fresh one");
}

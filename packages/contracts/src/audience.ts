import { HubMethodError } from "./hub-errors.js";
import { hasLength, hasNul } from "./text.js";

/** Notiway's audience types (docs/contract.md §3). */
export const AudienceType = { Global: 1, Tenant: 2, Group: 3, User: 4, Connection: 5 } as const;

export type AudienceTypeValue = (typeof AudienceType)[keyof typeof AudienceType];

/** The key of the Global audience, which every connection joins. */
export const GLOBAL_AUDIENCE = "global";

/** Longest audience value, tenant id or group name, in characters (docs/contract.md §3). */
export const MAX_AUDIENCE_VALUE_CHARS = 256;

/**
 * How one audience type behaves. Keys, envelope and Subscribe validation, and routing are derived
 * from `AUDIENCE_KINDS`; a new audience type is one row there plus its value rules.
 */
export interface AudienceKind {
  readonly type: AudienceTypeValue;
  readonly name: keyof typeof AudienceType;
  /** Takes no value: the key is fixed, and an envelope's audienceValue must be absent or that key. */
  readonly valueless: boolean;
  /** Joined by the client's Subscribe; the others are joined automatically when a connection opens. */
  readonly subscribable: boolean;
  /** One connection, reached by its id on the node that owns it; the others are reached through audience membership. */
  readonly byConnectionId: boolean;
  /** The key, from values that passed validation (see `audienceKey`). */
  key(value: string, tenantId: string | null): string;
  /** True when `key` has the shape of this type's keys; a Connection value never claims a shape. */
  owns(key: string): boolean;
}

function prefixed(type: AudienceTypeValue, name: keyof typeof AudienceType, prefix: string, subscribable: boolean): AudienceKind {
  return {
    type,
    name,
    valueless: false,
    subscribable,
    byConnectionId: false,
    key: (value) => prefix + value,
    owns: (key) => key.startsWith(prefix),
  };
}

/**
 * Keys per docs/contract.md §3: `global`, `tenant:{t}`, `group:{name}` or `group:{t}:{name}`,
 * `user:{u}`, or the connection id itself. Keys are case-sensitive.
 */
export const AUDIENCE_KINDS: Readonly<Record<AudienceTypeValue, AudienceKind>> = {
  [AudienceType.Global]: {
    type: AudienceType.Global,
    name: "Global",
    valueless: true,
    subscribable: false,
    byConnectionId: false,
    key: () => GLOBAL_AUDIENCE,
    owns: (key) => key === GLOBAL_AUDIENCE,
  },
  [AudienceType.Tenant]: prefixed(AudienceType.Tenant, "Tenant", "tenant:", true),
  [AudienceType.Group]: {
    ...prefixed(AudienceType.Group, "Group", "group:", true),
    key: (value, tenantId) => (tenantId === null ? "group:" + value : "group:" + tenantId + ":" + value),
  },
  [AudienceType.User]: prefixed(AudienceType.User, "User", "user:", false),
  [AudienceType.Connection]: {
    type: AudienceType.Connection,
    name: "Connection",
    valueless: false,
    subscribable: false,
    byConnectionId: true,
    key: (value) => value,
    owns: () => false,
  },
};

const KINDS = Object.values(AUDIENCE_KINDS);

/** True for the numbers 1..5 that name an audience type. */
export function isAudienceType(value: unknown): value is AudienceTypeValue {
  return typeof value === "number" && Object.hasOwn(AUDIENCE_KINDS, value);
}

/**
 * The audience key. A pure builder: it does not validate. Callers pass values that passed
 * `validateEnvelope` or `parseAudienceRequest`, which guarantee that distinct audiences never share a key
 * (tenant ids and plain group names contain no `:`, and a connection value never looks like another key).
 * `value` is ignored for Global; `tenantId` only matters for Group.
 */
export function audienceKey(type: AudienceTypeValue, value: string, tenantId?: string | null): string {
  return AUDIENCE_KINDS[type].key(value, tenantId ?? null);
}

/** The key of a user's own audience: `user:{userId}`. */
export function userAudience(userId: string): string {
  return AUDIENCE_KINDS[AudienceType.User].key(userId, null);
}

/** The key of a tenant's audience: `tenant:{tenantId}`. */
export function tenantAudience(tenantId: string): string {
  return AUDIENCE_KINDS[AudienceType.Tenant].key(tenantId, null);
}

/**
 * True when a Connection audience value has the shape of another audience's key (`global`,
 * `tenant:…`, `group:…`, `user:…`). Such a value would alias that audience, so it is refused.
 */
export function looksLikeSharedAudienceKey(value: string): boolean {
  return KINDS.some((kind) => kind.owns(value));
}

/** "A, B and C" */
function listed(items: readonly string[]): string {
  return items.length < 2 ? items.join("") : items.slice(0, -1).join(", ") + " and " + items[items.length - 1];
}

const NOT_SUBSCRIBABLE_MESSAGE = `${listed(KINDS.filter((k) => !k.subscribable).map((k) => k.name))} audiences are joined automatically.`;
const SUBSCRIBABLE_MESSAGE = `audienceType must be ${KINDS.filter((k) => k.subscribable)
  .map((k) => `${k.type} (${k.name})`)
  .join(" or ")}.`;

/** A validated Subscribe/Unsubscribe argument. */
export interface AudienceRequest {
  audienceType: typeof AudienceType.Tenant | typeof AudienceType.Group;
  /** The tenant id for a Tenant, the group name for a Group. */
  audienceValue: string;
  /** As given by the client; null when absent or null. */
  tenantId: string | null;
  /** The audience key (`tenant:{t}`, `group:{name}` or `group:{t}:{name}`). */
  key: string;
  /** Tenant that needs validation (Tenant, or tenant-scoped Group), else null. */
  tenantToValidate: string | null;
}

const NAME_AUDIENCE_TYPE = "audiencetype";
const NAME_AUDIENCE_VALUE = "audiencevalue";
const NAME_TENANT_ID = "tenantid";

/**
 * Reads the single argument of Subscribe/Unsubscribe (docs/contract.md §4). Property names match
 * case-insensitively (`audienceType`, `AudienceType`, `audiencetype` …); other properties are ignored.
 *
 * Throws `HubMethodError`:
 * - `NotSupported` for audienceType 1, 4 or 5 (checked first, whatever the other properties are);
 * - `WrongInput` when the argument is not an object, a property is given twice in different case,
 *   audienceType is missing or not 2 or 3, audienceValue is not a string of 1–256 characters,
 *   tenantId is neither null nor such a string, a tenant id contains `:`, a Tenant's tenantId
 *   differs from its audienceValue, or a plain (not tenant-scoped) group name contains `:`
 *   (it would alias a tenant-scoped group's key), or audienceValue or tenantId contains NUL (U+0000).
 */
export function parseAudienceRequest(arg: unknown): AudienceRequest {
  if (typeof arg !== "object" || arg === null || Array.isArray(arg)) {
    throw new HubMethodError("WrongInput", "The argument must be an object with audienceType and audienceValue.");
  }
  const obj = arg as Record<string, unknown>;
  let typeRaw: unknown;
  let valueRaw: unknown;
  let tenantRaw: unknown;
  let seenType = false;
  let seenValue = false;
  let seenTenant = false;
  for (const name of Object.keys(obj)) {
    // Exact-length pre-check keeps toLowerCase off unrelated property names.
    const len = name.length;
    if (len !== 12 && len !== 13 && len !== 8) continue;
    const lower = name.toLowerCase();
    if (lower === NAME_AUDIENCE_TYPE) {
      if (seenType) throw duplicate("audienceType");
      seenType = true;
      typeRaw = obj[name];
    } else if (lower === NAME_AUDIENCE_VALUE) {
      if (seenValue) throw duplicate("audienceValue");
      seenValue = true;
      valueRaw = obj[name];
    } else if (lower === NAME_TENANT_ID) {
      if (seenTenant) throw duplicate("tenantId");
      seenTenant = true;
      tenantRaw = obj[name];
    }
  }

  if (isAudienceType(typeRaw) && !AUDIENCE_KINDS[typeRaw].subscribable) throw new HubMethodError("NotSupported", NOT_SUBSCRIBABLE_MESSAGE);
  if (typeRaw !== AudienceType.Tenant && typeRaw !== AudienceType.Group) {
    throw new HubMethodError("WrongInput", typeRaw === undefined || typeRaw === null ? "audienceType is required." : SUBSCRIBABLE_MESSAGE);
  }
  if (typeof valueRaw !== "string" || !hasLength(valueRaw, MAX_AUDIENCE_VALUE_CHARS)) {
    throw new HubMethodError("WrongInput", "audienceValue must be a string of 1 to 256 characters.");
  }
  // No notification can address an audience with NUL (ingest refuses it), and Postgres refuses it in replay queries.
  if (hasNul(valueRaw)) throw new HubMethodError("WrongInput", "audienceValue must not contain NUL characters.");
  let tenantId: string | null = null;
  if (tenantRaw !== undefined && tenantRaw !== null) {
    if (typeof tenantRaw !== "string" || !hasLength(tenantRaw, MAX_AUDIENCE_VALUE_CHARS)) {
      throw new HubMethodError("WrongInput", "tenantId must be a string of 1 to 256 characters.");
    }
    if (tenantRaw.includes(":")) throw new HubMethodError("WrongInput", "tenantId must not contain ':'.");
    if (hasNul(tenantRaw)) throw new HubMethodError("WrongInput", "tenantId must not contain NUL characters.");
    tenantId = tenantRaw;
  }

  if (typeRaw === AudienceType.Tenant) {
    if (valueRaw.includes(":")) throw new HubMethodError("WrongInput", "A tenant id must not contain ':'.");
    if (tenantId !== null && tenantId !== valueRaw) {
      throw new HubMethodError("WrongInput", "tenantId must equal audienceValue for a Tenant audience.");
    }
    return { audienceType: typeRaw, audienceValue: valueRaw, tenantId, key: audienceKey(typeRaw, valueRaw), tenantToValidate: valueRaw };
  }
  if (tenantId === null && valueRaw.includes(":")) {
    throw new HubMethodError("WrongInput", "A group name must not contain ':' unless tenantId is given.");
  }
  return {
    audienceType: typeRaw,
    audienceValue: valueRaw,
    tenantId,
    key: audienceKey(typeRaw, valueRaw, tenantId),
    tenantToValidate: tenantId,
  };
}

function duplicate(name: string): HubMethodError {
  return new HubMethodError("WrongInput", `${name} is given more than once.`);
}

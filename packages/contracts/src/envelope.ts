import {
  AUDIENCE_KINDS,
  audienceKey,
  AudienceType,
  isAudienceType,
  looksLikeSharedAudienceKey,
  MAX_AUDIENCE_VALUE_CHARS,
  type AudienceTypeValue,
} from "./audience.js";
import {
  ISO_DATE_PATTERN,
  MAX_BODY_DEPTH,
  MAX_DATE_CHARS,
  MAX_ENVELOPES_PER_BATCH,
  MAX_ID_CHARS,
  MAX_PRODUCER_CHARS,
  MAX_TYPE_CHARS,
  RESERVED_TYPES,
} from "./envelope-rules.js";
import { checkJsonData, hasControlChar, hasLength, hasNul, isJsonObject } from "./text.js";

/**
 * A producer envelope after validation, with the defaults of docs/contract.md §5 filled in. All dates are
 * ISO-8601 UTC strings in `Date.prototype.toISOString()` form (`2025-01-15T10:00:00.000Z`), so they
 * sort as strings. Unknown fields of the envelope, its routing and its metadata are dropped.
 */
export interface Notification {
  id: string;
  type: string;
  /** The envelope's `body`, untouched; null when absent. */
  body: unknown;
  routing: {
    audienceType: AudienceTypeValue;
    /** `"global"` for Global. */
    audienceValue: string;
    /** Null when absent. */
    tenantId: string | null;
    /** The audience key (docs/contract.md §3). */
    audienceId: string;
  };
  metadata: {
    producer: string;
    /** As given, normalised; else the time of acceptance. */
    timeStamp: string;
    isPersisted: boolean;
    /** Absolute expiry when persisted (as given, or timeStamp + the default TTL); null when not persisted. */
    persistedTTL: string | null;
  };
}

/** One reason an envelope was refused. */
export interface EnvelopeProblem {
  /** Position of the envelope in the batch (0 for a single envelope); -1 for a problem of the batch itself. */
  index: number;
  /** Dotted field path (`routing.audienceType`); `""` for the envelope or the batch as a whole. */
  path: string;
  /** One short sentence about the field, e.g. `must be an integer from 1 to 5`. */
  message: string;
}

export type EnvelopeBatchResult = { ok: true; notifications: Notification[] } | { ok: false; problems: EnvelopeProblem[] };

export type EnvelopeResult = { ok: true; notification: Notification } | { ok: false; problems: EnvelopeProblem[] };

export interface EnvelopeOptions {
  /** Time of acceptance: fills a missing `metadata.timeStamp`. */
  now: Date;
  /** Lifetime of a persisted notification without `persistedTTL`, in seconds from its timeStamp. */
  defaultTtlSeconds: number;
  /** Largest envelope, in bytes as received. */
  maxNotificationBytes: number;
}

export interface EnvelopeBatchOptions extends EnvelopeOptions {
  /** Most envelopes in one array (default 1000). */
  maxBatch?: number;
  /** Byte size of each envelope as received; a missing entry is measured as UTF-8 of `JSON.stringify`. */
  sizes?: readonly (number | undefined)[];
}

export interface SingleEnvelopeOptions extends EnvelopeOptions {
  /** Byte size of the envelope as received; when absent, measured as UTF-8 of `JSON.stringify`. */
  byteLength?: number;
}

export { MAX_BODY_DEPTH, MAX_ENVELOPES_PER_BATCH, MAX_ID_CHARS, MAX_PRODUCER_CHARS, MAX_TYPE_CHARS };

const RESERVED = RESERVED_TYPES.map((t) => t.toLowerCase());
const ISO_DATE = new RegExp(ISO_DATE_PATTERN);

const MSG_REQUIRED = "is required";
const MSG_STRING = "must be a string";
const MSG_OBJECT = "must be a JSON object";
const MSG_ENVELOPE_OBJECT = "must be a JSON object";
const MSG_ID_LENGTH = "must be 1 to 256 characters";
const MSG_ID_CONTROL = "must not contain control characters";
const MSG_TYPE_LENGTH = "must be 1 to 128 characters";
const MSG_TYPE_CHARS = "may contain only letters, digits and . _ : -";
const MSG_TYPE_RESERVED = "must not be a reserved event name";
const MSG_AUDIENCE_TYPE = "must be an integer from 1 to 5";
const MSG_VALUE_LENGTH = "must be 1 to 256 characters";
const MSG_GLOBAL_VALUE = 'must be absent or "global" for a Global audience';
const MSG_TENANT_COLON = "must not contain ':'";
const MSG_TENANT_VALUE_COLON = "must not contain ':' for a Tenant audience";
const MSG_TENANT_MISMATCH = "must equal routing.audienceValue for a Tenant audience";
const MSG_GROUP_COLON = "must not contain ':' unless routing.tenantId is set";
const MSG_CONNECTION_SHAPE = "must be a connection id, not another audience's key";
const MSG_PRODUCER_LENGTH = "must be 1 to 128 characters";
const MSG_DATE = "must be an ISO-8601 date-time";
const MSG_BOOLEAN = "must be true or false";
const MSG_NOT_SERIALISABLE = "must be serialisable as JSON";
const MSG_NUL = "must not contain NUL (U+0000) characters";
const MSG_SURROGATE = "must not contain unpaired surrogates (U+D800 to U+DFFF)";
const MSG_BODY_DEPTH = `must nest at most ${MAX_BODY_DEPTH} levels deep`;
const MSG_BODY_NUL = "must not contain NUL (U+0000) characters in any string or key";
const MSG_BODY_SURROGATE = "must not contain unpaired surrogates (U+D800 to U+DFFF) in any string or key";
const MSG_BODY_TYPE = "must be JSON data (strings, finite numbers, booleans, null, arrays, objects)";
const MSG_PROTO_KEY = 'must not contain the key "__proto__"';

const PATH_ID = "id";
const PATH_TYPE = "type";
const PATH_ROUTING = "routing";
const PATH_AUDIENCE_TYPE = "routing.audienceType";
const PATH_AUDIENCE_VALUE = "routing.audienceValue";
const PATH_TENANT_ID = "routing.tenantId";
const PATH_METADATA = "metadata";
const PATH_PRODUCER = "metadata.producer";
const PATH_TIMESTAMP = "metadata.timeStamp";
const PATH_IS_PERSISTED = "metadata.isPersisted";
const PATH_TTL = "metadata.persistedTTL";
const PATH_BODY = "body";

/**
 * Validates the body of `POST /api/notifications`: one envelope object, or an array of up to
 * `maxBatch` (1000) of them. All-or-nothing: when anything is wrong the result lists every problem
 * of every envelope and no notification. An empty array is valid and yields no notifications.
 * Problems of the batch itself (too many envelopes) have index -1 and path "".
 */
export function validateEnvelopes(input: unknown, opts: EnvelopeBatchOptions): EnvelopeBatchResult {
  const problems: EnvelopeProblem[] = [];
  const nowMs = opts.now.getTime();
  const nowIso = nowIsos.of(nowMs);
  if (!Array.isArray(input)) {
    const n = validateOne(input, 0, opts, opts.sizes?.[0], nowIso, nowMs, problems);
    return n === null ? { ok: false, problems } : { ok: true, notifications: [n] };
  }
  const maxBatch = opts.maxBatch ?? MAX_ENVELOPES_PER_BATCH;
  if (input.length > maxBatch) {
    problems.push({ index: -1, path: "", message: `must hold at most ${maxBatch} envelopes, not ${input.length}` });
    return { ok: false, problems };
  }
  const notifications: Notification[] = [];
  const sizes = opts.sizes;
  for (let i = 0; i < input.length; i++) {
    const n = validateOne(input[i], i, opts, sizes?.[i], nowIso, nowMs, problems);
    if (n !== null && problems.length === 0) notifications.push(n);
  }
  return problems.length === 0 ? { ok: true, notifications } : { ok: false, problems };
}

/**
 * Validates one envelope (the NATS ingest path). Problems carry index 0. `byteLength` is the size
 * as received (the NATS payload); when absent the envelope is measured as UTF-8 of `JSON.stringify`.
 */
export function validateEnvelope(input: unknown, opts: SingleEnvelopeOptions): EnvelopeResult {
  const problems: EnvelopeProblem[] = [];
  const nowMs = opts.now.getTime();
  const n = validateOne(input, 0, opts, opts.byteLength, nowIsos.of(nowMs), nowMs, problems);
  return n === null ? { ok: false, problems } : { ok: true, notification: n };
}

/** Validates and normalises one envelope; pushes its problems and returns null when it has any. */
function validateOne(
  input: unknown,
  index: number,
  opts: EnvelopeOptions,
  byteLength: number | undefined,
  nowIso: string,
  nowMs: number,
  problems: EnvelopeProblem[],
): Notification | null {
  if (!isJsonObject(input)) {
    problems.push({ index, path: "", message: MSG_ENVELOPE_OBJECT });
    return null;
  }
  const before = problems.length;

  // id
  const id = input["id"];
  if (id === undefined || id === null) problems.push({ index, path: PATH_ID, message: MSG_REQUIRED });
  else if (typeof id !== "string") problems.push({ index, path: PATH_ID, message: MSG_STRING });
  else if (!hasLength(id, MAX_ID_CHARS)) problems.push({ index, path: PATH_ID, message: MSG_ID_LENGTH });
  else if (hasControlChar(id)) problems.push({ index, path: PATH_ID, message: MSG_ID_CONTROL });
  else if (!id.isWellFormed()) problems.push({ index, path: PATH_ID, message: MSG_SURROGATE });

  // type
  const type = input["type"];
  if (type === undefined || type === null) problems.push({ index, path: PATH_TYPE, message: MSG_REQUIRED });
  else if (typeof type !== "string") problems.push({ index, path: PATH_TYPE, message: MSG_STRING });
  else if (type.length === 0 || type.length > MAX_TYPE_CHARS) problems.push({ index, path: PATH_TYPE, message: MSG_TYPE_LENGTH });
  else if (!isTypeChars(type)) problems.push({ index, path: PATH_TYPE, message: MSG_TYPE_CHARS });
  else if (isReservedType(type)) problems.push({ index, path: PATH_TYPE, message: MSG_TYPE_RESERVED });

  // routing
  let audienceType: AudienceTypeValue = AudienceType.Global;
  let audienceValue = "";
  let tenantId: string | null = null;
  const routing = input["routing"];
  if (routing === undefined || routing === null) problems.push({ index, path: PATH_ROUTING, message: MSG_REQUIRED });
  else if (!isJsonObject(routing)) problems.push({ index, path: PATH_ROUTING, message: MSG_OBJECT });
  else {
    const at = routing["audienceType"];
    let typeOk = false;
    if (at === undefined || at === null) problems.push({ index, path: PATH_AUDIENCE_TYPE, message: MSG_REQUIRED });
    else if (isAudienceType(at)) {
      audienceType = at;
      typeOk = true;
    } else problems.push({ index, path: PATH_AUDIENCE_TYPE, message: MSG_AUDIENCE_TYPE });

    const tid = routing["tenantId"];
    let tenantOk = true;
    if (tid !== undefined && tid !== null) {
      tenantOk = false;
      if (typeof tid !== "string") problems.push({ index, path: PATH_TENANT_ID, message: MSG_STRING });
      else if (!hasLength(tid, MAX_AUDIENCE_VALUE_CHARS)) problems.push({ index, path: PATH_TENANT_ID, message: MSG_VALUE_LENGTH });
      else if (hasNul(tid)) problems.push({ index, path: PATH_TENANT_ID, message: MSG_NUL });
      else if (!tid.isWellFormed()) problems.push({ index, path: PATH_TENANT_ID, message: MSG_SURROGATE });
      else if (tid.includes(":")) problems.push({ index, path: PATH_TENANT_ID, message: MSG_TENANT_COLON });
      else {
        tenantId = tid;
        tenantOk = true;
      }
    }

    const av = routing["audienceValue"];
    if (typeOk && AUDIENCE_KINDS[audienceType].valueless) {
      const fixed = AUDIENCE_KINDS[audienceType].key("", null);
      if (av === undefined || av === null || av === fixed) audienceValue = fixed;
      else problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_GLOBAL_VALUE });
    } else if (av === undefined || av === null) {
      if (typeOk) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_REQUIRED });
    } else if (typeof av !== "string") problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_STRING });
    else if (!hasLength(av, MAX_AUDIENCE_VALUE_CHARS)) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_VALUE_LENGTH });
    else if (hasNul(av)) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_NUL });
    else if (!av.isWellFormed()) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_SURROGATE });
    else if (typeOk) {
      audienceValue = av;
      if (audienceType === AudienceType.Tenant) {
        if (av.includes(":")) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_TENANT_VALUE_COLON });
        else if (tenantOk && tenantId !== null && tenantId !== av) {
          problems.push({ index, path: PATH_TENANT_ID, message: MSG_TENANT_MISMATCH });
        }
      } else if (audienceType === AudienceType.Group) {
        // A plain group name with ':' would share its key with a tenant-scoped group.
        if (tid == null && av.includes(":")) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_GROUP_COLON });
      } else if (audienceType === AudienceType.Connection) {
        if (looksLikeSharedAudienceKey(av)) problems.push({ index, path: PATH_AUDIENCE_VALUE, message: MSG_CONNECTION_SHAPE });
      }
    }
  }

  // metadata
  let producer = "";
  let timeStamp = nowIso;
  let timeStampMs = nowMs;
  let isPersisted = false;
  let ttlMs = Number.NaN;
  const metadata = input["metadata"];
  if (metadata === undefined || metadata === null) problems.push({ index, path: PATH_METADATA, message: MSG_REQUIRED });
  else if (!isJsonObject(metadata)) problems.push({ index, path: PATH_METADATA, message: MSG_OBJECT });
  else {
    const p = metadata["producer"];
    if (p === undefined || p === null) problems.push({ index, path: PATH_PRODUCER, message: MSG_REQUIRED });
    else if (typeof p !== "string") problems.push({ index, path: PATH_PRODUCER, message: MSG_STRING });
    else if (!hasLength(p, MAX_PRODUCER_CHARS)) problems.push({ index, path: PATH_PRODUCER, message: MSG_PRODUCER_LENGTH });
    else if (hasNul(p)) problems.push({ index, path: PATH_PRODUCER, message: MSG_NUL });
    else if (!p.isWellFormed()) problems.push({ index, path: PATH_PRODUCER, message: MSG_SURROGATE });
    else producer = p;

    const ts = metadata["timeStamp"];
    if (ts !== undefined && ts !== null) {
      const ms = parseIsoDate(ts);
      if (Number.isNaN(ms)) problems.push({ index, path: PATH_TIMESTAMP, message: MSG_DATE });
      else {
        timeStampMs = ms;
        timeStamp = new Date(ms).toISOString();
      }
    }

    const persisted = metadata["isPersisted"];
    if (persisted === true) isPersisted = true;
    else if (persisted !== undefined && persisted !== null && persisted !== false) {
      problems.push({ index, path: PATH_IS_PERSISTED, message: MSG_BOOLEAN });
    }

    const ttl = metadata["persistedTTL"];
    if (ttl !== undefined && ttl !== null) {
      ttlMs = parseIsoDate(ttl);
      if (Number.isNaN(ttlMs)) problems.push({ index, path: PATH_TTL, message: MSG_DATE });
    }
  }

  // body: stored as jsonb, replayed and encoded for every protocol, so it must be plain, shallow JSON without
  // NUL or unpaired surrogates (jsonb refuses both: accepted, such a body could never be stored). MessagePack clients (@microsoft/signalr-protocol-msgpack) refuse a map with an own "__proto__" key and
  // drop the connection, again on every replay: such a body could never be delivered in both protocols.
  const bodyFault = input["body"] === undefined ? null : checkJsonData(input["body"], MAX_BODY_DEPTH);
  if (bodyFault !== null) {
    problems.push({
      index,
      path: PATH_BODY,
      message:
        bodyFault === "depth"
          ? MSG_BODY_DEPTH
          : bodyFault === "nul"
            ? MSG_BODY_NUL
            : bodyFault === "surrogate"
              ? MSG_BODY_SURROGATE
              : bodyFault === "proto"
                ? MSG_PROTO_KEY
                : MSG_BODY_TYPE,
    });
  }

  // size as received
  let size = byteLength;
  // A body refused above for its data may be too deep to stringify; the envelope is refused either way.
  if (size === undefined && (bodyFault === null || bodyFault === "proto")) {
    try {
      size = Buffer.byteLength(JSON.stringify(input), "utf8");
    } catch {
      // BigInt or a cycle: it could never be delivered as JSON either.
      problems.push({ index, path: "", message: MSG_NOT_SERIALISABLE });
      size = 0;
    }
  }
  if (size !== undefined && size > opts.maxNotificationBytes) {
    problems.push({ index, path: "", message: `must be at most ${opts.maxNotificationBytes} bytes, not ${size}` });
  }

  if (problems.length !== before) return null;

  let persistedTTL: string | null = null;
  if (isPersisted) {
    // A default expiry past the last four-digit year is capped there, so it stays a date this parser, the store and every client read.
    const expiry = Number.isNaN(ttlMs) ? Math.min(timeStampMs + opts.defaultTtlSeconds * 1000, LATEST_DATE_MS) : ttlMs;
    persistedTTL = expiryIsos.of(expiry);
  }
  const body = input["body"];
  return {
    id: id as string,
    type: type as string,
    body: body === undefined ? null : body,
    routing: {
      audienceType,
      audienceValue,
      tenantId,
      audienceId: audienceKey(audienceType, audienceValue, tenantId),
    },
    metadata: { producer, timeStamp, isPersisted, persistedTTL },
  };
}

/**
 * `new Date(ms).toISOString()`, remembered for the last `ms`: notifications validated within one
 * millisecond share their acceptance time and default expiry, and formatting a date costs more than
 * the rest of a small envelope's checks.
 */
class IsoOfLast {
  #ms = Number.NaN;
  #iso = "";

  of(ms: number): string {
    if (ms !== this.#ms) {
      this.#iso = new Date(ms).toISOString();
      this.#ms = ms;
    }
    return this.#iso;
  }
}
const nowIsos = new IsoOfLast();
const expiryIsos = new IsoOfLast();

function isReservedType(type: string): boolean {
  let lower: string | undefined;
  for (const r of RESERVED) if (r.length === type.length && r === (lower ??= type.toLowerCase())) return true;
  return false;
}

/** True when every character of `type` is a letter, a digit or one of `. _ : -` (TYPE_PATTERN, without a RegExp). */
function isTypeChars(type: string): boolean {
  for (let i = 0; i < type.length; i++) {
    const c = type.charCodeAt(i);
    const lower = c | 0x20; // A-Z to a-z
    if (!((lower >= 0x61 && lower <= 0x7a) || (c >= 0x30 && c <= 0x3a) || c === 0x2e || c === 0x5f || c === 0x2d)) return false;
  }
  return type.length > 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31] as const;

/** 0001-01-01T00:00:00.000Z and 9999-12-31T23:59:59.999Z: the instants `toISOString` writes with a four-digit year that PostgreSQL also accepts (it has no year 0). */
const EARLIEST_DATE_MS = -62135596800000;
const LATEST_DATE_MS = 253402300799999;

/**
 * Milliseconds since the epoch of an ISO-8601 date (`2025-01-15`, midnight UTC) or date-time with
 * optional seconds, fraction (truncated to milliseconds) and offset (`Z`, `+01:00`, `+0100`; none
 * means UTC), or of a valid `Date` (MessagePack's timestamp extension decodes to one). NaN when the
 * value is anything else, names a day or time that does not exist (`2025-02-30`, `24:00`), or an
 * instant outside the years 0001 to 9999 UTC (`0000-06-01`, `9999-12-31T23:30-01:00`), whose
 * normalised form would not read back.
 */
export function parseIsoDate(value: unknown): number {
  const ms = parseIsoDateUnbounded(value);
  return ms >= EARLIEST_DATE_MS && ms <= LATEST_DATE_MS ? ms : Number.NaN;
}

function parseIsoDateUnbounded(value: unknown): number {
  if (value instanceof Date) return value.getTime();
  if (typeof value !== "string" || value.length > MAX_DATE_CHARS) return Number.NaN;
  const m = ISO_DATE.exec(value);
  if (m === null) return Number.NaN;
  const year = Number(m[1]);
  const month = Number(m[2]);
  const day = Number(m[3]);
  if (month < 1 || month > 12 || day < 1) return Number.NaN;
  const leap = month === 2 && year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  if (day > (DAYS_IN_MONTH[month - 1] ?? 31) + (leap ? 1 : 0)) return Number.NaN;
  const hour = m[4] === undefined ? 0 : Number(m[4]);
  const minute = m[5] === undefined ? 0 : Number(m[5]);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (hour > 23 || minute > 59 || second > 59) return Number.NaN;
  const fraction = m[7];
  const millis = fraction === undefined ? 0 : Number((fraction + "00").slice(0, 3));
  let offsetMinutes = 0;
  if (m[9] !== undefined) {
    const oh = Number(m[10]);
    const om = Number(m[11]);
    if (oh > 23 || om > 59) return Number.NaN;
    offsetMinutes = (oh * 60 + om) * (m[9] === "-" ? -1 : 1);
  }
  // Date.UTC maps years 0-99 to 1900-1999; shift by 400 years (same calendar) and back.
  const utc =
    year < 100
      ? Date.UTC(year + 400, month - 1, day, hour, minute, second, millis) - 12622780800000
      : Date.UTC(year, month - 1, day, hour, minute, second, millis);
  return utc - offsetMinutes * 60000;
}

import { HubEvents } from "./hub-events.js";

// The envelope's limits and patterns, in one place: `validateEnvelopes` (envelope.ts) enforces them and
// `envelopeJsonSchema` (envelope-schema.ts) publishes them, so the two cannot drift apart.

/** Most envelopes one HTTP ingest request may carry (docs/contract.md §7). */
export const MAX_ENVELOPES_PER_BATCH = 1000;
/** Longest `id`, in characters. */
export const MAX_ID_CHARS = 256;
/** Longest `type`, in characters. */
export const MAX_TYPE_CHARS = 128;
/** Longest `metadata.producer`, in characters. */
export const MAX_PRODUCER_CHARS = 128;
/**
 * Deepest nesting of `body`, the body itself being level 1: the limit of inbound hub messages, well
 * inside what every hub protocol encoder accepts (MessagePack refuses more than 100).
 */
export const MAX_BODY_DEPTH = 64;
/** Longest date string accepted for `metadata.timeStamp` and `metadata.persistedTTL`. */
export const MAX_DATE_CHARS = 40;

/** Characters a `type` may contain (ECMAScript regular expression source). */
export const TYPE_PATTERN = "^[A-Za-z0-9._:-]+$";

/** Types producers may not use (any case): the hub's own read-state events. */
export const RESERVED_TYPES: readonly string[] = [HubEvents.ReadStatusChange, HubEvents.DeletedStatusChange];

/**
 * ISO-8601 / RFC 3339 date (`2025-01-15`, midnight UTC) or date-time with optional seconds, fraction
 * and offset (`Z`, `+01:00`, `+0100`; none means UTC), fields in range. Groups: year, month, day, hour,
 * minute, second, fraction, Z, offset sign, offset hours, offset minutes. Days past the end of their
 * month (`2025-02-30`) pass the pattern; the validator refuses them.
 */
export const ISO_DATE_PATTERN =
  "^(\\d{4})-(0[1-9]|1[0-2])-(0[1-9]|[12]\\d|3[01])" +
  "(?:[Tt ]([01]\\d|2[0-3]):([0-5]\\d)(?::([0-5]\\d)(?:[.,](\\d{1,9}))?)?(?:([Zz])|([+-])([01]\\d|2[0-3]):?([0-5]\\d))?)?$";

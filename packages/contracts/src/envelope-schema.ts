import { audienceKey, AudienceType, MAX_AUDIENCE_VALUE_CHARS } from "./audience.js";
import {
  ISO_DATE_PATTERN,
  MAX_BODY_DEPTH,
  MAX_DATE_CHARS,
  MAX_ENVELOPES_PER_BATCH,
  MAX_ID_CHARS,
  MAX_PRODUCER_CHARS,
  MAX_TYPE_CHARS,
  RESERVED_TYPES,
  TYPE_PATTERN,
} from "./envelope-rules.js";
import { subjects } from "./subjects.js";

/** Where the generated documents live, relative to the repository root. */
export const ENVELOPE_SCHEMA_FILE = "docs/schema/envelope.schema.json";
export const ENVELOPE_BATCH_SCHEMA_FILE = "docs/schema/envelope-batch.schema.json";
export const ASYNCAPI_FILE = "docs/asyncapi.yaml";

/**
 * Rules the JSON Schema cannot state, which only the gateway and router check. A producer whose
 * envelope passes the schema can still be refused for these.
 */
export const VALIDATOR_ONLY_RULES: readonly string[] = [
  "the envelope is at most TIDINGS_MAX_NOTIFICATION_BYTES (65536) bytes as received",
  "a Tenant audience's routing.tenantId, when given, equals routing.audienceValue",
  "metadata.timeStamp and metadata.persistedTTL name days that exist (not 2025-02-30)",
  `body nests at most ${MAX_BODY_DEPTH} levels deep and has no NUL (U+0000) and no unpaired surrogate (U+D800 to U+DFFF) in any string or key and no "__proto__" key`,
  "id, routing.audienceValue, routing.tenantId and metadata.producer have no unpaired surrogate (U+D800 to U+DFFF)",
];

type Schema = Record<string, unknown>;

const NO_CONTROL_CHARS = "^[^\\u0000-\\u001f\\u007f]*$";
const NO_NUL = "^[^\\u0000]*$";
const NO_COLON_OR_NUL = "^[^:\\u0000]*$";

/** `EventReadStatusChange` → `[Ee][Vv][Ee]…`: JSON Schema patterns take no case-insensitive flag. */
function anyCase(word: string): string {
  return [...word].map((c) => (c.toLowerCase() === c.toUpperCase() ? c : `[${c.toUpperCase()}${c.toLowerCase()}]`)).join("");
}

const text = (max: number, extra: Schema = {}): Schema => ({ type: "string", minLength: 1, maxLength: max, ...extra });
const optional = (schema: Schema): Schema => ({ anyOf: [{ type: "null" }, schema] });
const whenAudience = (types: number[], then: Schema, extraIf: Schema = {}): Schema => ({
  if: { required: ["audienceType"], properties: { audienceType: { enum: types }, ...extraIf } },
  then,
});
const date = (description: string): Schema =>
  optional({ type: "string", maxLength: MAX_DATE_CHARS, pattern: ISO_DATE_PATTERN, description });

/** JSON Schema (draft-07) of one producer envelope, built from the validator's own rules. */
export function envelopeJsonSchema(): Schema {
  const { Global, Tenant, Group, User, Connection } = AudienceType;
  const sharedKeyPrefixes = [Tenant, Group, User].map((t) => audienceKey(t, ""));
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "envelope.schema.json",
    title: "Tidings producer envelope",
    description:
      "One notification as a producer publishes it (POST /api/notifications, or JetStream under tidings.notify.>). " +
      "Generated from packages/contracts; see docs/contract.md §7. Unknown fields are allowed and dropped. " +
      `Also checked on receipt, beyond this schema: ${VALIDATOR_ONLY_RULES.join("; ")}.`,
    type: "object",
    required: ["id", "type", "routing", "metadata"],
    properties: {
      id: text(MAX_ID_CHARS, { pattern: NO_CONTROL_CHARS, description: "The de-duplication key; no control characters." }),
      type: text(MAX_TYPE_CHARS, {
        pattern: TYPE_PATTERN,
        not: { pattern: `^(?:${RESERVED_TYPES.map(anyCase).join("|")})$` },
        description: `The client's handler name. Not ${RESERVED_TYPES.join(" or ")} in any case.`,
      }),
      body: { description: "Any JSON, passed through untouched." },
      routing: {
        type: "object",
        required: ["audienceType"],
        properties: {
          audienceType: {
            enum: [Global, Tenant, Group, User, Connection],
            description: "1 Global, 2 Tenant, 3 Group, 4 User, 5 Connection.",
          },
          audienceValue: {
            description: 'The tenant id, group name, user id or connection id; for Global absent or "global".',
          },
          tenantId: optional(
            text(MAX_AUDIENCE_VALUE_CHARS, { pattern: NO_COLON_OR_NUL, description: "Scopes a Group; equals audienceValue for a Tenant." }),
          ),
        },
        allOf: [
          whenAudience([Global], { properties: { audienceValue: { enum: [null, audienceKey(Global, "")] } } }),
          whenAudience([Tenant, Group, User, Connection], {
            required: ["audienceValue"],
            properties: { audienceValue: text(MAX_AUDIENCE_VALUE_CHARS, { pattern: NO_NUL }) },
          }),
          whenAudience([Tenant], { properties: { audienceValue: { type: "string", pattern: NO_COLON_OR_NUL } } }),
          // A plain group name with ':' would share its key with a tenant-scoped group.
          whenAudience(
            [Group],
            { properties: { audienceValue: { type: "string", pattern: NO_COLON_OR_NUL } } },
            { tenantId: { type: "null" } },
          ),
          // A connection id shaped like another audience's key would alias that audience.
          whenAudience([Connection], {
            properties: {
              audienceValue: {
                not: { anyOf: [{ const: audienceKey(Global, "") }, { type: "string", pattern: `^(?:${sharedKeyPrefixes.join("|")})` }] },
              },
            },
          }),
        ],
      },
      metadata: {
        type: "object",
        required: ["producer"],
        properties: {
          producer: text(MAX_PRODUCER_CHARS, { pattern: NO_NUL, description: "Who published it; no NUL." }),
          timeStamp: date("ISO-8601; default: the time of acceptance. Without an offset, UTC."),
          isPersisted: { type: ["boolean", "null"], description: "Store it for replay; default false." },
          persistedTTL: date("ISO-8601 absolute expiry of a persisted notification; default timeStamp + TIDINGS_DEFAULT_TTL_SECONDS."),
        },
      },
    },
  };
}

/** JSON Schema of the body of POST /api/notifications: one envelope, or an array of them. */
export function envelopeBatchJsonSchema(): Schema {
  const envelope = { $ref: "envelope.schema.json" };
  return {
    $schema: "http://json-schema.org/draft-07/schema#",
    $id: "envelope-batch.schema.json",
    title: "Body of POST /api/notifications",
    description: `One envelope, or an array of at most ${MAX_ENVELOPES_PER_BATCH}; all or nothing.`,
    anyOf: [envelope, { type: "array", maxItems: MAX_ENVELOPES_PER_BATCH, items: envelope }],
  };
}

/** AsyncAPI 3 document of the NATS subjects producers use; internal `tidings.v1.*` subjects are not part of it. */
export function asyncApiDocument(version: string): Schema {
  const envelopePayload = { schemaFormat: "application/schema+json;version=draft-07", schema: { $ref: "schema/envelope.schema.json" } };
  const notifyPrefix = subjects.notify("x").slice(0, -1);
  return {
    asyncapi: "3.0.0",
    info: {
      title: "Tidings producer subjects",
      version,
      description:
        `Publish notification envelopes to JetStream under ${subjects.notifyWildcard} (stream ${subjects.stream}, created by Tidings at start). ` +
        `Invalid envelopes are acknowledged and republished to ${subjects.deadLetter}. Generated from packages/contracts; see docs/contract.md §7.`,
    },
    defaultContentType: "application/json",
    servers: {
      nats: { host: "localhost:4222", protocol: "nats", description: "The NATS server of the Tidings cluster (TIDINGS_NATS_URL)." },
    },
    channels: {
      notify: {
        address: `${notifyPrefix}{suffix}`,
        title: "Producer envelopes",
        description: `Captured by stream ${subjects.stream}. The suffix is free (one or more tokens, e.g. billing or billing.eu).`,
        parameters: { suffix: { description: "One or more dot-separated NATS tokens naming the producer." } },
        messages: { envelope: { $ref: "#/components/messages/envelope" } },
      },
      deadLetter: {
        address: subjects.deadLetter,
        title: "Refused envelopes",
        messages: { refused: { $ref: "#/components/messages/refused" } },
      },
    },
    operations: {
      publishNotification: {
        action: "send",
        channel: { $ref: "#/channels/notify" },
        summary: "Publish one envelope; JetStream's ack means it is durably accepted.",
        messages: [{ $ref: "#/channels/notify/messages/envelope" }],
      },
      watchDeadLetters: {
        action: "receive",
        channel: { $ref: "#/channels/deadLetter" },
        summary: "Envelopes the router refused, as they were published, with the reason.",
        messages: [{ $ref: "#/channels/deadLetter/messages/refused" }],
      },
    },
    components: {
      messages: {
        envelope: {
          name: "envelope",
          title: "Notification envelope",
          headers: {
            type: "object",
            required: ["Nats-Msg-Id"],
            properties: {
              "Nats-Msg-Id": {
                type: "string",
                description: "The envelope id: JetStream drops a retried publish within the duplicate window.",
              },
              "Content-Type": {
                type: "string",
                enum: ["application/json", "application/msgpack"],
                description: "Default application/json.",
              },
            },
          },
          payload: envelopePayload,
        },
        refused: {
          name: "refused",
          title: "Refused envelope",
          headers: {
            type: "object",
            properties: {
              "Tidings-Error": {
                type: "string",
                description: "<reason>: <detail>, e.g. `invalid_envelope: routing.audienceType must be an integer from 1 to 5`.",
              },
              "Tidings-Subject": { type: "string", description: "The subject it was published to." },
            },
          },
          payload: { description: "The message body exactly as published." },
        },
      },
    },
  };
}

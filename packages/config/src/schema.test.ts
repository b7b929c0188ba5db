import { describe, expect, it } from "vitest";
import { configSchema } from "./schema.js";

/**
 * Every `TIDINGS_*` setting the wire protocol and the product contract rely on (docs/protocol.md,
 * docs/contract.md), with the default they were designed with, written as in the environment
 * ("" = no default).
 */
const SPEC: Record<string, string> = {
  TIDINGS_TRANSPORTS: "WebSockets,ServerSentEvents,LongPolling",
  TIDINGS_KEEPALIVE_SECONDS: "15",
  TIDINGS_CLIENT_TIMEOUT_SECONDS: "30",
  TIDINGS_HANDSHAKE_TIMEOUT_SECONDS: "15",
  TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "90",
  TIDINGS_DISCONNECT_TIMEOUT_SECONDS: "15",
  TIDINGS_MAX_MESSAGE_BYTES: "32768",
  TIDINGS_MAX_TRANSPORT_BYTES: "1048576",
  TIDINGS_MAX_BACKPRESSURE_BYTES: "1048576",
  TIDINGS_STATEFUL_RECONNECT: "true",
  TIDINGS_STATEFUL_BUFFER_BYTES: "100000",
  TIDINGS_DETAILED_ERRORS: "false",
  TIDINGS_FORWARD_TIMEOUT_SECONDS: "5",
  TIDINGS_PORT: "8080",
  TIDINGS_METRICS_PORT: "9464",
  TIDINGS_CORS_ORIGINS: "",
  TIDINGS_AUTH_JWT_SECRET: "",
  TIDINGS_AUTH_JWKS_URL: "",
  TIDINGS_AUTH_ISSUER: "",
  TIDINGS_AUTH_AUDIENCE: "",
  TIDINGS_AUTH_USER_CLAIM: "sub",
  TIDINGS_AUTH_TENANT_CLAIM: "tenant_id",
  TIDINGS_AUTH_ANONYMOUS: "false",
  TIDINGS_MAX_SUBSCRIPTIONS: "100",
  TIDINGS_TENANT_VALIDATION: "claims",
  TIDINGS_TENANT_VALIDATION_URL: "",
  TIDINGS_TENANT_VALIDATION_CACHE_SECONDS: "30",
  TIDINGS_DEFAULT_TTL_SECONDS: "1800",
  TIDINGS_DEDUPE_WINDOW_SECONDS: "120",
  TIDINGS_REPLAY_LIMIT: "100",
  TIDINGS_MAX_NOTIFICATION_BYTES: "65536",
  TIDINGS_INGEST_KEYS: "",
  TIDINGS_MAX_CONNECTIONS_PER_USER: "100",
  TIDINGS_DRAIN_SECONDS: "10",
  TIDINGS_TESTING: "false",
  TIDINGS_ROLE: "all",
  TIDINGS_NATS_URL: "",
  TIDINGS_DATABASE_URL: "",
};

describe("configSchema", () => {
  const byName = new Map(configSchema.keys.map((key) => [configSchema.envName(key), key] as const));

  it("configSchema - every setting of the specs exists with the spec's default", () => {
    for (const [name, expected] of Object.entries(SPEC)) {
      const key = byName.get(name);
      expect(key, `${name} is missing from the schema`).toBeDefined();
      if (key === undefined) continue;
      const field = configSchema.fields[key];
      const actual = field.default === undefined ? "" : field.format(field.default as never);
      expect(actual, name).toBe(expected);
    }
  });

  it("configSchema - every key is camelCase and maps to a unique TIDINGS_ name", () => {
    expect(byName.size).toBe(configSchema.keys.length);
    for (const key of configSchema.keys) {
      expect(key).toMatch(/^[a-z][a-zA-Z0-9]*$/);
      expect(configSchema.envName(key)).toMatch(/^TIDINGS_[A-Z0-9_]+$/);
    }
  });

  it("configSchema - secrets are exactly the values that can carry credentials", () => {
    const secrets = configSchema.keys.filter((key) => configSchema.fields[key].secret);
    expect(secrets).toEqual(["authJwtSecret", "ingestKeys", "natsUrl", "databaseUrl"]);
  });

  it("configSchema - every setting is documented", () => {
    for (const key of configSchema.keys) expect(configSchema.fields[key].doc.length, key).toBeGreaterThan(10);
  });
});

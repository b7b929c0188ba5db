import { describe, expect, it } from "vitest";
import { ConfigError, configWarnings, editDistance, loadConfig, redactConfig } from "./load-config.js";
import type { Env } from "./load-config.js";

const SECRET = "0123456789abcdef0123456789abcdef"; // 32 characters
const ANON = { TIDINGS_AUTH_ANONYMOUS: "true" } as const;

/** Runs loadConfig and returns the ConfigError it must throw. */
function problemsOf(env: Env): ConfigError {
  try {
    loadConfig(env);
  } catch (error) {
    if (error instanceof ConfigError) return error;
    throw error;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify(env)}`);
}

describe("loadConfig defaults", () => {
  it("loadConfig - an empty environment (plus anonymous auth) gives every documented default", () => {
    expect(loadConfig(ANON)).toEqual({
      transports: ["WebSockets", "ServerSentEvents", "LongPolling"],
      keepaliveSeconds: 15,
      clientTimeoutSeconds: 30,
      handshakeTimeoutSeconds: 15,
      longPollTimeoutSeconds: 90,
      disconnectTimeoutSeconds: 15,
      maxMessageBytes: 32768,
      maxTransportBytes: 1048576,
      maxBackpressureBytes: 1048576,
      statefulReconnect: true,
      statefulBufferBytes: 100000,
      detailedErrors: false,
      forwardTimeoutSeconds: 5,
      membershipAckTimeoutSeconds: 2,
      port: 8080,
      apiPort: 0,
      host: "0.0.0.0",
      metricsPort: 9464,
      buildVersion: "dev",
      buildRevision: "unknown",
      corsOrigins: [],
      authJwtSecret: undefined,
      authJwksUrl: undefined,
      authIssuer: undefined,
      authAudience: undefined,
      authUserClaim: "sub",
      authTenantClaim: "tenant_id",
      authAnonymous: true,
      maxSubscriptions: 100,
      hubCallRate: 20,
      hubCallBurst: 100,
      maxQueuedCalls: 100,
      hubCallFloodLimit: 500,
      hubCallFloodWindowSeconds: 10,
      tenantValidation: "claims",
      tenantValidationUrl: undefined,
      tenantValidationCacheSeconds: 30,
      defaultTtlSeconds: 1800,
      dedupeWindowSeconds: 120,
      replayLimit: 100,
      maxNotificationBytes: 65536,
      ingestKeys: [],
      maxConnectionsPerUser: 100,
      drainSeconds: 10,
      testing: false,
      role: "all",
      natsUrl: undefined,
      databaseUrl: undefined,
      databaseSslMode: undefined,
      databaseSslRootCert: undefined,
      dataDir: ".tidings-data",
      natsCredsFile: undefined,
      natsNkeySeedFile: undefined,
      natsTlsCaFile: undefined,
      natsTlsCertFile: undefined,
      natsTlsKeyFile: undefined,
      jetstreamReplicas: undefined,
      jetstreamMaxBytes: 1073741824,
      jetstreamMaxAgeSeconds: 86400,
      nodeId: undefined,
      registryHeartbeatSeconds: 5,
      registryPartitions: 1,
      routerAckWaitSeconds: 10,
      logLevel: "info",
    });
  });

  it("loadConfig - empty and whitespace-only values count as unset", () => {
    const config = loadConfig({ ...ANON, TIDINGS_PORT: "", TIDINGS_LOG_LEVEL: "   ", TIDINGS_AUTH_JWKS_URL: "" });
    expect(config.port).toBe(8080);
    expect(config.logLevel).toBe("info");
    expect(config.authJwksUrl).toBeUndefined();
  });

  it("loadConfig - the result and its lists are frozen", () => {
    const config = loadConfig(ANON);
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.transports)).toBe(true);
  });

  it("loadConfig - reads process.env when no environment is given", () => {
    const saved = process.env["TIDINGS_AUTH_ANONYMOUS"];
    const savedPort = process.env["TIDINGS_PORT"];
    process.env["TIDINGS_AUTH_ANONYMOUS"] = "yes";
    process.env["TIDINGS_PORT"] = "9090";
    try {
      expect(loadConfig().port).toBe(9090);
    } finally {
      if (saved === undefined) delete process.env["TIDINGS_AUTH_ANONYMOUS"];
      else process.env["TIDINGS_AUTH_ANONYMOUS"] = saved;
      if (savedPort === undefined) delete process.env["TIDINGS_PORT"];
      else process.env["TIDINGS_PORT"] = savedPort;
    }
  });
});

describe("loadConfig values", () => {
  it("loadConfig - parses one value of every kind from TIDINGS_* variables", () => {
    const config = loadConfig({
      TIDINGS_TRANSPORTS: "longpolling, WebSockets",
      TIDINGS_KEEPALIVE_SECONDS: "2.5",
      TIDINGS_CLIENT_TIMEOUT_SECONDS: "10",
      TIDINGS_PORT: " 9000 ",
      TIDINGS_STATEFUL_RECONNECT: "No",
      TIDINGS_CORS_ORIGINS: "https://app.example.com, http://localhost:5173",
      TIDINGS_AUTH_JWKS_URL: "https://auth.example.com/.well-known/jwks.json",
      TIDINGS_TENANT_VALIDATION: "HTTP",
      TIDINGS_TENANT_VALIDATION_URL: "http://tenants.internal/check",
      TIDINGS_INGEST_KEYS: "k1,k2",
      TIDINGS_ROLE: "gateway",
      TIDINGS_NATS_URL: "nats://nats:4222",
      TIDINGS_DATABASE_URL: "postgres://tidings:pw@db/tidings",
      TIDINGS_NODE_ID: "gateway-7f9c-x2",
      TIDINGS_LOG_LEVEL: "debug",
    });
    expect(config).toMatchObject({
      transports: ["LongPolling", "WebSockets"],
      keepaliveSeconds: 2.5,
      clientTimeoutSeconds: 10,
      port: 9000,
      statefulReconnect: false,
      corsOrigins: ["https://app.example.com", "http://localhost:5173"],
      authJwksUrl: "https://auth.example.com/.well-known/jwks.json",
      tenantValidation: "http",
      tenantValidationUrl: "http://tenants.internal/check",
      ingestKeys: ["k1", "k2"],
      role: "gateway",
      natsUrl: "nats://nats:4222",
      databaseUrl: "postgres://tidings:pw@db/tidings",
      nodeId: "gateway-7f9c-x2",
      logLevel: "debug",
    });
  });

  it("loadConfig - a 32-character JWT secret is enough", () => {
    expect(loadConfig({ TIDINGS_AUTH_JWT_SECRET: SECRET }).authJwtSecret).toBe(SECRET);
  });

  it("loadConfig - long-poll timeout must stay below 100 s, metrics port 0 turns metrics off", () => {
    expect(problemsOf({ ...ANON, TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "100" }).problems).toEqual([
      'TIDINGS_LONG_POLL_TIMEOUT_SECONDS="100": expected a number of seconds (decimals allowed), greater than 0 and below 100',
    ]);
    expect(loadConfig({ ...ANON, TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "99.5" }).longPollTimeoutSeconds).toBe(99.5);
    expect(loadConfig({ ...ANON, TIDINGS_METRICS_PORT: "0" }).metricsPort).toBe(0);
    expect(problemsOf({ ...ANON, TIDINGS_PORT: "0" }).problems).toEqual(['TIDINGS_PORT="0": expected an integer, from 1 to 65535']);
  });

  it("loadConfig - CORS origins must be exact origins", () => {
    for (const bad of ["*", "https://app.example.com/", "app.example.com", "https://App.example.com", "ftp://x.com"]) {
      const error = problemsOf({ ...ANON, TIDINGS_CORS_ORIGINS: `https://ok.example.com,${bad}` });
      expect(error.problems).toHaveLength(1);
      expect(error.problems[0]).toMatch(/^TIDINGS_CORS_ORIGINS=.*an origin such as https:\/\/app\.example\.com/);
    }
  });

  it("loadConfig - transports must name at least one known transport", () => {
    expect(problemsOf({ ...ANON, TIDINGS_TRANSPORTS: "WebSockets,Pigeon" }).problems[0]).toBe(
      'TIDINGS_TRANSPORTS="WebSockets,Pigeon": expected a comma-separated list of WebSockets, ServerSentEvents, LongPolling with at least 1 item ("Pigeon" is not one of them)',
    );
    expect(problemsOf({ ...ANON, TIDINGS_TRANSPORTS: " , " }).problems[0]).toMatch(/^TIDINGS_TRANSPORTS=",": expected/);
  });

  it("loadConfig - node id must be usable in NATS subjects and connection ids", () => {
    expect(problemsOf({ ...ANON, TIDINGS_NODE_ID: "gw.1" }).problems[0]).toBe(
      'TIDINGS_NODE_ID="gw.1": expected letters, digits, - and _, at most 64 characters',
    );
  });
});

describe("ConfigError", () => {
  it("ConfigError - several bad keys give one error that lists every problem, one per line", () => {
    const error = problemsOf({
      ...ANON,
      TIDINGS_PORT: "80a",
      TIDINGS_KEEPALIVE_SECONDS: "fast",
      TIDINGS_STATEFUL_RECONNECT: "maybe",
      TIDINGS_LOG_LEVEL: "loud",
      TIDINGS_AUTH_JWKS_URL: "not a url",
    });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe("ConfigError");
    expect(error.problems).toEqual([
      'TIDINGS_KEEPALIVE_SECONDS="fast": expected a number of seconds (decimals allowed), greater than 0',
      'TIDINGS_STATEFUL_RECONNECT="maybe": expected true, false, 1, 0, yes or no',
      'TIDINGS_PORT="80a": expected an integer, from 1 to 65535',
      'TIDINGS_AUTH_JWKS_URL="not a url": expected an absolute URL starting with https:// or http://',
      'TIDINGS_LOG_LEVEL="loud": expected one of trace, debug, info, warn, error',
    ]);
    const lines = error.message.split("\n");
    expect(lines[0]).toBe("invalid configuration (5 problems):");
    expect(lines.slice(1)).toEqual(error.problems.map((p) => `  - ${p}`));
  });

  it("ConfigError - a secret value is masked, only its length is shown", () => {
    const error = problemsOf({
      TIDINGS_AUTH_JWT_SECRET: "hunter2-is-short",
      TIDINGS_DATABASE_URL: "mysql://root:topsecret@db/x",
      TIDINGS_NATS_URL: "localhost:4222?pass=natspw",
    });
    expect(error.problems).toEqual([
      "TIDINGS_AUTH_JWT_SECRET=<hidden, 16 characters>: expected at least 32 characters",
      "TIDINGS_NATS_URL=<hidden, 26 characters>: expected an absolute URL starting with nats:// or tls:// or ws:// or wss://",
      "TIDINGS_DATABASE_URL=<hidden, 27 characters>: expected an absolute URL starting with postgres:// or postgresql://",
    ]);
    for (const leaked of ["hunter2", "topsecret", "natspw"]) expect(error.message).not.toContain(leaked);
  });

  it("ConfigError - an invalid value does not also trigger the cross-field rules that read it", () => {
    // The short secret is the only problem: no "no way to authenticate" on top of it.
    expect(problemsOf({ TIDINGS_AUTH_JWT_SECRET: "short" }).problems).toHaveLength(1);
  });
});

describe("unknown settings", () => {
  it("unknown settings - a misspelt TIDINGS_ variable is a problem with the closest name suggested", () => {
    const error = problemsOf({
      ...ANON,
      TIDINGS_KEEPALIVE_SECOND: "10",
      TIDINGS_AUTH_JWT_SECERT: "whatever-value-that-is-very-secret",
      TIDINGS_port: "1234",
    });
    expect(error.problems).toEqual([
      "TIDINGS_AUTH_JWT_SECERT: unknown setting; did you mean TIDINGS_AUTH_JWT_SECRET?",
      "TIDINGS_KEEPALIVE_SECOND: unknown setting; did you mean TIDINGS_KEEPALIVE_SECONDS?",
      "TIDINGS_port: unknown setting; did you mean TIDINGS_PORT?",
    ]);
    expect(error.message).not.toContain("whatever-value");
  });

  it("unknown settings - without a close name, no suggestion is made", () => {
    expect(problemsOf({ ...ANON, TIDINGS_FROBNICATE: "1" }).problems).toEqual([
      "TIDINGS_FROBNICATE: unknown setting (see the configuration table in README.md)",
    ]);
  });

  it("unknown settings - empty unknown variables and other prefixes are ignored", () => {
    expect(() => loadConfig({ ...ANON, TIDINGS_NOTHING: "", TIDINGSX: "1", PORT: "1", HOME: "/root" })).not.toThrow();
  });

  it("unknown settings - the tidings CLI's own variables are not the server's problem", () => {
    expect(() => loadConfig({ ...ANON, TIDINGS_INGEST_KEY: "k", TIDINGS_TOKEN: "t", TIDINGS_URL: "http://x" })).not.toThrow();
  });

  it("editDistance - counts edits and adjacent swaps", () => {
    expect(editDistance("PORT", "PORT")).toBe(0);
    expect(editDistance("PROT", "PORT")).toBe(1);
    expect(editDistance("PORTS", "PORT")).toBe(1);
    expect(editDistance("kitten", "sitting")).toBe(3);
    expect(editDistance("", "abc")).toBe(3);
  });
});

describe("cross-field rules", () => {
  it("cross-field rules - JWT secret and JWKS URL together are refused", () => {
    expect(problemsOf({ TIDINGS_AUTH_JWT_SECRET: SECRET, TIDINGS_AUTH_JWKS_URL: "https://a.example.com/jwks" }).problems).toEqual([
      "TIDINGS_AUTH_JWT_SECRET and TIDINGS_AUTH_JWKS_URL are both set: set only one",
    ]);
  });

  it("cross-field rules - no authentication method at all is refused", () => {
    expect(problemsOf({}).problems).toEqual([
      "no way to authenticate: set TIDINGS_AUTH_JWT_SECRET or TIDINGS_AUTH_JWKS_URL, or TIDINGS_AUTH_ANONYMOUS=true",
    ]);
    expect(problemsOf({ TIDINGS_AUTH_ANONYMOUS: "false" }).problems).toHaveLength(1);
    expect(() => loadConfig({ TIDINGS_AUTH_JWKS_URL: "https://a.example.com/jwks" })).not.toThrow();
  });

  it("cross-field rules - routers and stores verify no tokens, so they start without the signing key", () => {
    for (const role of ["router", "store"]) {
      expect(() => loadConfig({ TIDINGS_ROLE: role, TIDINGS_NATS_URL: "nats://n:4222" })).not.toThrow();
    }
    expect(problemsOf({ TIDINGS_ROLE: "gateway", TIDINGS_NATS_URL: "nats://n:4222" }).problems).toHaveLength(1);
  });

  it("cross-field rules - NATS credentials file or nkey seed, TLS certificate with its key, API port apart from metrics", () => {
    expect(problemsOf({ ...ANON, TIDINGS_NATS_CREDS_FILE: "/c", TIDINGS_NATS_NKEY_SEED_FILE: "/s" }).problems).toEqual([
      "TIDINGS_NATS_CREDS_FILE and TIDINGS_NATS_NKEY_SEED_FILE are both set: set only one",
    ]);
    expect(problemsOf({ ...ANON, TIDINGS_NATS_TLS_CERT_FILE: "/c" }).problems).toEqual([
      "TIDINGS_NATS_TLS_CERT_FILE and TIDINGS_NATS_TLS_KEY_FILE go together: set both or neither",
    ]);
    expect(problemsOf({ ...ANON, TIDINGS_API_PORT: "9464" }).problems).toEqual([
      "TIDINGS_API_PORT=9464 equals TIDINGS_METRICS_PORT: use another port",
    ]);
    const c = loadConfig({ ...ANON, TIDINGS_API_PORT: "8081", TIDINGS_JETSTREAM_REPLICAS: "3", TIDINGS_DATABASE_SSL_ROOT_CERT: "/ca.pem" });
    expect([c.apiPort, c.jetstreamReplicas, c.jetstreamMaxBytes, c.jetstreamMaxAgeSeconds, c.databaseSslMode]).toEqual([
      8081,
      3,
      1073741824,
      86400,
      undefined,
    ]);
  });

  it("cross-field rules - client timeout must exceed keep-alive", () => {
    expect(problemsOf({ ...ANON, TIDINGS_KEEPALIVE_SECONDS: "10", TIDINGS_CLIENT_TIMEOUT_SECONDS: "10" }).problems).toEqual([
      "TIDINGS_CLIENT_TIMEOUT_SECONDS=10 must be greater than TIDINGS_KEEPALIVE_SECONDS=10",
    ]);
    expect(() => loadConfig({ ...ANON, TIDINGS_KEEPALIVE_SECONDS: "10", TIDINGS_CLIENT_TIMEOUT_SECONDS: "10.5" })).not.toThrow();
  });

  it("cross-field rules - http tenant validation needs its URL", () => {
    expect(problemsOf({ ...ANON, TIDINGS_TENANT_VALIDATION: "http" }).problems).toEqual([
      "TIDINGS_TENANT_VALIDATION=http requires TIDINGS_TENANT_VALIDATION_URL",
    ]);
  });

  it("cross-field rules - a single role needs NATS", () => {
    for (const role of ["gateway", "router", "store"]) {
      expect(problemsOf({ ...ANON, TIDINGS_ROLE: role }).problems).toEqual([
        `TIDINGS_ROLE=${role} requires TIDINGS_NATS_URL: a single part cannot run without the cluster bus`,
      ]);
    }
    expect(loadConfig({ ...ANON, TIDINGS_ROLE: "store", TIDINGS_NATS_URL: "nats://n:4222" }).role).toBe("store");
  });

  it("cross-field rules - metrics and hub cannot share a port", () => {
    expect(problemsOf({ ...ANON, TIDINGS_PORT: "9464" }).problems).toEqual([
      "TIDINGS_METRICS_PORT=9464 equals TIDINGS_PORT: use another port, or 0 to turn metrics off",
    ]);
  });

  it("cross-field rules - value problems, unknown names and rule problems are reported together", () => {
    const error = problemsOf({ TIDINGS_PORT: "x", TIDINGS_PROT: "1", TIDINGS_ROLE: "gateway" });
    expect(error.problems).toEqual([
      'TIDINGS_PORT="x": expected an integer, from 1 to 65535',
      "TIDINGS_PROT: unknown setting; did you mean TIDINGS_PORT?",
      "no way to authenticate: set TIDINGS_AUTH_JWT_SECRET or TIDINGS_AUTH_JWKS_URL, or TIDINGS_AUTH_ANONYMOUS=true",
      "TIDINGS_ROLE=gateway requires TIDINGS_NATS_URL: a single part cannot run without the cluster bus",
    ]);
  });
});

describe("configWarnings", () => {
  const quiet = { TIDINGS_AUTH_JWT_SECRET: SECRET, TIDINGS_INGEST_KEYS: "k1" };

  it("configWarnings - a typical production configuration has nothing to say", () => {
    expect(configWarnings(loadConfig(quiet))).toEqual([]);
  });

  it("configWarnings - keep-alive above 15 s breaks default clients", () => {
    expect(configWarnings(loadConfig({ ...quiet, TIDINGS_KEEPALIVE_SECONDS: "16" }))).toEqual([
      "TIDINGS_KEEPALIVE_SECONDS=16 breaks default SignalR clients, whose server timeout is 30 s: keep it at 15 or below",
    ]);
    expect(configWarnings(loadConfig({ ...quiet, TIDINGS_KEEPALIVE_SECONDS: "15" }))).toEqual([]);
  });

  it("configWarnings - no ingest key means loopback-only ingest", () => {
    expect(configWarnings(loadConfig({ TIDINGS_AUTH_JWT_SECRET: SECRET }))).toEqual([
      "TIDINGS_INGEST_KEYS is empty: POST /api/notifications accepts only loopback requests",
    ]);
  });

  it("configWarnings - anonymous access is called out", () => {
    expect(configWarnings(loadConfig({ ...quiet, ...ANON }))).toEqual([
      "TIDINGS_AUTH_ANONYMOUS=true: requests without a token are accepted as anonymous connections",
    ]);
  });

  it("configWarnings - an unused tenant validation URL, detailed errors and the testing endpoint are called out", () => {
    const warnings = configWarnings(
      loadConfig({
        ...quiet,
        TIDINGS_TENANT_VALIDATION_URL: "http://t/check",
        TIDINGS_DETAILED_ERRORS: "1",
        TIDINGS_TESTING: "true",
      }),
    );
    expect(warnings).toEqual([
      "TIDINGS_TENANT_VALIDATION_URL is set but TIDINGS_TENANT_VALIDATION=claims: the URL is not used",
      "TIDINGS_DETAILED_ERRORS=true sends exception details to clients: development only",
      "TIDINGS_TESTING=true: POST /test/notifications is enabled",
    ]);
  });
});

describe("redactConfig", () => {
  it("redactConfig - hides set secrets and keeps everything else", () => {
    const redacted = redactConfig(
      loadConfig({
        TIDINGS_AUTH_JWT_SECRET: SECRET,
        TIDINGS_INGEST_KEYS: "k1,k2",
        TIDINGS_DATABASE_URL: "postgres://u:pw@db/t",
      }),
    );
    expect(redacted["authJwtSecret"]).toBe("<hidden>");
    expect(redacted["ingestKeys"]).toEqual(["<hidden>", "<hidden>"]);
    expect(redacted["databaseUrl"]).toBe("<hidden>");
    expect(redacted["natsUrl"]).toBeUndefined();
    expect(redacted["port"]).toBe(8080);
    expect(JSON.stringify(redacted)).not.toContain("pw@");
  });
});

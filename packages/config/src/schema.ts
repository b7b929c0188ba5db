/**
 * The Tidings settings; the wire ones are explained in docs/protocol.md §0 and §5, the others in
 * docs/contract.md and docs/architecture.md. Each key `fooBar` is read from `TIDINGS_FOO_BAR`.
 */
import { bool, defineConfig, int, list, oneOf, seconds, str, url } from "./define-config.js";
import type { InferConfig } from "./define-config.js";

/** Transport names as SignalR writes them in negotiate. */
export const TRANSPORTS = ["WebSockets", "ServerSentEvents", "LongPolling"] as const;
export const ROLES = ["all", "gateway", "router", "store"] as const;
export const LOG_LEVELS = ["trace", "debug", "info", "warn", "error"] as const;
export const TENANT_VALIDATION_MODES = ["claims", "http", "none"] as const;
export const DATABASE_SSL_MODES = ["disable", "prefer", "require", "verify-ca", "verify-full"] as const;

/** `scheme://host[:port]`, exactly as a browser sends it in `Origin` (no path, no trailing slash). */
function checkOrigin(item: string): string | undefined {
  const expected = "an origin such as https://app.example.com: lower-case, no path, no trailing slash";
  if (!URL.canParse(item)) return expected;
  const u = new URL(item);
  if (u.protocol !== "http:" && u.protocol !== "https:") return expected;
  return u.origin === item ? undefined : expected;
}

export const configSchema = defineConfig(
  {
    // --- wire (docs/protocol.md §0, §5) ---------------------------------------------------------
    transports: list({
      values: TRANSPORTS,
      default: TRANSPORTS,
      min: 1,
      doc: "Transports offered in negotiate and accepted on the hub; the others answer 404.",
    }),
    keepaliveSeconds: seconds({
      default: 15,
      above: 0,
      doc: "A Ping is sent on WebSockets and SSE when nothing else was sent for this long. Above 15 breaks default clients.",
    }),
    clientTimeoutSeconds: seconds({
      default: 30,
      above: 0,
      doc: "A WebSocket or SSE connection that sent nothing for this long (after its first Ping) is closed. Must exceed the keep-alive.",
    }),
    handshakeTimeoutSeconds: seconds({
      default: 15,
      above: 0,
      doc: "Time allowed for the SignalR handshake.",
    }),
    longPollTimeoutSeconds: seconds({
      default: 90,
      above: 0,
      below: 100,
      doc: "An idle long poll is answered empty after this long. Clients abort at 100 s.",
    }),
    disconnectTimeoutSeconds: seconds({
      default: 15,
      above: 0,
      doc: "A negotiated-but-unused, poll-less or detached stateful connection ends after this long.",
    }),
    maxMessageBytes: int({
      default: 32768,
      min: 1,
      doc: "Largest inbound hub message; a larger one closes the connection with `Message too large`.",
    }),
    maxTransportBytes: int({
      default: 1048576,
      min: 1,
      doc: "Largest WebSocket frame or transport POST body.",
    }),
    maxBackpressureBytes: int({
      default: 1048576,
      min: 1,
      doc: "Outbound bytes buffered per connection before it is closed with `Slow consumer`.",
    }),
    statefulReconnect: bool({
      default: true,
      doc: "Offer stateful reconnect to clients that ask for it (ASP.NET default: off).",
    }),
    statefulBufferBytes: int({
      default: 100000,
      min: 1,
      doc: "Unacknowledged outbound bytes kept per stateful connection for replay after a reattach.",
    }),
    detailedErrors: bool({
      default: false,
      doc: "Add exception details to hub invocation errors. Development only.",
    }),
    forwardTimeoutSeconds: seconds({
      default: 5,
      above: 0,
      doc: "Time to wait for the owning node when a request is forwarded in a cluster, and for the store's answer (the store service in a cluster, the database in standalone) before the caller is told it is unavailable.",
    }),

    // --- product contract (docs/contract.md) -------------------------------------------------
    port: int({ default: 8080, min: 1, max: 65535, doc: "HTTP and hub listen port." }),
    apiPort: int({
      default: 0,
      min: 0,
      max: 65535,
      doc: "Port of a second listener serving only the producer ingest and read APIs (`/api/*`), which then leave TIDINGS_PORT; `0`: they stay on TIDINGS_PORT.",
    }),
    host: str({ default: "0.0.0.0", doc: "Address the HTTP and hub port listens on." }),
    metricsPort: int({
      default: 9464,
      min: 0,
      max: 65535,
      doc: "Port of `/metrics` (Prometheus); `0` turns it off.",
    }),
    buildVersion: str({
      default: "dev",
      max: 64,
      doc: "Version shown in `tidings_build_info{version}`; the image sets it from its `VERSION` build argument.",
    }),
    buildRevision: str({
      default: "unknown",
      max: 64,
      doc: "Source revision shown in `tidings_build_info{revision}`; the image sets it from its `REVISION` build argument.",
    }),
    corsOrigins: list({
      default: [],
      check: checkOrigin,
      itemText: "origins such as https://app.example.com",
      doc: "Browser origins allowed to call the hub and API; each is echoed exactly, never `*`. Empty: none.",
    }),
    authJwtSecret: str({
      default: undefined,
      min: 32,
      secret: true,
      doc: "HS256 key for user JWTs. Set this or the JWKS URL, not both.",
    }),
    authJwksUrl: url({
      default: undefined,
      protocols: ["https", "http"],
      doc: "JWKS URL for asymmetric user JWTs. Set this or the JWT secret, not both.",
    }),
    authIssuer: str({ default: undefined, doc: "Required JWT `iss`, when set." }),
    authAudience: str({ default: undefined, doc: "Required JWT `aud`, when set." }),
    authUserClaim: str({ default: "sub", doc: "JWT claim holding the user id; a token without it is refused." }),
    authTenantClaim: str({
      default: "tenant_id",
      doc: "JWT claim (string or array) listing the tenants the user may subscribe to.",
    }),
    authAnonymous: bool({
      default: false,
      doc: "Accept requests without a token as anonymous connections (Global, Connection and plain groups only).",
    }),
    maxSubscriptions: int({
      default: 100,
      min: 1,
      doc: "Audiences one connection may join with Subscribe; more gives `Throttled`.",
    }),
    hubCallRate: int({
      default: 20,
      min: 1,
      doc: "Hub method calls per second one connection may make on average (token bucket refill); a call over the limit is refused with `Throttled` and not run.",
    }),
    hubCallBurst: int({
      default: 100,
      min: 1,
      doc: "Hub method calls one connection may make at once before `TIDINGS_HUB_CALL_RATE` applies (token bucket size).",
    }),
    maxQueuedCalls: int({
      default: 100,
      min: 1,
      doc: "Hub method calls of one connection accepted but not yet completed (they run one after another); more are refused with `Throttled` at once.",
    }),
    hubCallFloodLimit: int({
      default: 500,
      min: 0,
      doc: "A connection with more than this many `Throttled` calls within `TIDINGS_HUB_CALL_FLOOD_WINDOW_SECONDS` is closed with `Too many hub calls` (no reconnect). `0`: never closed.",
    }),
    hubCallFloodWindowSeconds: seconds({
      default: 10,
      above: 0,
      doc: "Window of `TIDINGS_HUB_CALL_FLOOD_LIMIT`.",
    }),
    tenantValidation: oneOf({
      values: TENANT_VALIDATION_MODES,
      default: "claims",
      doc: "How Subscribe to a tenant is authorised: token claim, HTTP callback, or not at all.",
    }),
    tenantValidationUrl: url({
      default: undefined,
      protocols: ["https", "http"],
      doc: "Callback for `TIDINGS_TENANT_VALIDATION=http`: 200 allows, anything else refuses.",
    }),
    tenantValidationCacheSeconds: seconds({
      default: 30,
      doc: "How long a tenant validation callback answer is cached; `0` disables the cache.",
    }),
    defaultTtlSeconds: seconds({
      default: 1800,
      above: 0,
      doc: "Lifetime of a persisted notification that has no `persistedTTL`.",
    }),
    dedupeWindowSeconds: seconds({
      default: 120,
      doc: "The same notification id to the same audience within this window is delivered once.",
    }),
    replayLimit: int({
      default: 100,
      min: 0,
      doc: "Newest stored notifications replayed per audience on connect or Subscribe.",
    }),
    maxNotificationBytes: int({
      default: 65536,
      min: 1,
      doc: "Largest producer envelope, as received.",
    }),
    ingestKeys: list({
      default: [],
      secret: true,
      doc: "Producer keys for `POST /api/notifications` (`Authorization: Bearer <key>`). Empty: loopback only.",
    }),
    maxConnectionsPerUser: int({
      default: 100,
      min: 1,
      doc: "Connections one user may hold; more are refused with 429.",
    }),
    drainSeconds: seconds({
      default: 10,
      doc: "On SIGTERM, existing connections are closed spread over this long.",
    }),
    testing: bool({ default: false, doc: "Enable `POST /test/notifications` (live only, never persisted)." }),

    // --- cluster and operations (docs/architecture.md) ----------------------------------------------
    role: oneOf({
      values: ROLES,
      default: "all",
      doc: "Which parts this process runs; anything but `all` needs TIDINGS_NATS_URL.",
    }),
    natsUrl: url({
      default: undefined,
      protocols: ["nats", "tls", "ws", "wss"],
      secret: true,
      doc: "NATS server URL (it may carry credentials); unset: in-process bus (standalone).",
    }),
    databaseUrl: url({
      default: undefined,
      protocols: ["postgres", "postgresql"],
      secret: true,
      doc: "Postgres URL (it may carry a password); unset: embedded Postgres in TIDINGS_DATA_DIR.",
    }),
    databaseSslMode: oneOf({
      values: DATABASE_SSL_MODES,
      default: undefined,
      doc: "TLS to Postgres: `verify-full` checks the certificate and host name, `verify-ca` the certificate only, `require` encrypts without checks. Unset: `verify-full` when TIDINGS_DATABASE_SSL_ROOT_CERT is set, else what the URL's `sslmode` says.",
    }),
    databaseSslRootCert: str({
      default: undefined,
      doc: "PEM file of the CA(s) that sign the Postgres server certificate (like libpq's `sslrootcert`).",
    }),
    dataDir: str({ default: ".tidings-data", doc: "Data directory of the embedded Postgres." }),
    natsCredsFile: str({
      default: undefined,
      doc: "NATS credentials file (user JWT and nkey seed, `.creds`), read at every (re)connect.",
    }),
    natsNkeySeedFile: str({
      default: undefined,
      doc: "File holding a NATS user nkey seed (`SU…`), read at every (re)connect. Set this or the credentials file, not both.",
    }),
    natsTlsCaFile: str({
      default: undefined,
      doc: "PEM file of the CA(s) that sign the NATS server certificate; setting it turns TLS on.",
    }),
    natsTlsCertFile: str({ default: undefined, doc: "PEM client certificate for NATS mutual TLS (with TIDINGS_NATS_TLS_KEY_FILE)." }),
    natsTlsKeyFile: str({ default: undefined, doc: "PEM private key of TIDINGS_NATS_TLS_CERT_FILE." }),
    jetstreamReplicas: int({
      default: undefined,
      min: 1,
      max: 5,
      doc: "Replicas of the `TIDINGS` stream. Unset: 3 when the NATS cluster has three or more servers, else 1. Applied to an existing stream at start.",
    }),
    jetstreamMaxBytes: int({
      default: 1073741824,
      min: -1,
      doc: "Most bytes the `TIDINGS` stream holds (per replica); when full, ingest is refused (503) rather than dropping accepted notifications. `-1`: no limit.",
    }),
    jetstreamMaxAgeSeconds: seconds({
      default: 86400,
      doc: "Undelivered notifications older than this are removed from the `TIDINGS` stream (routers down that long). `0`: no limit.",
    }),
    nodeId: str({
      default: undefined,
      max: 64,
      pattern: /^[A-Za-z0-9_-]+$/,
      patternText: "letters, digits, - and _",
      doc: "This node's id in the cluster (NATS subjects, connection ids); unset: generated at start.",
    }),
    registryHeartbeatSeconds: seconds({
      default: 5,
      above: 0,
      doc: "Interval of gateway registry heartbeats; a node silent for three intervals is dropped by the routers. Same value on every gateway and router.",
    }),
    registryPartitions: int({
      default: 1,
      min: 1,
      max: 4096,
      doc: "Cluster mode: partitions of the audience registry and of ingest. `1`: every router holds every audience key and all routers share one consumer. Above 1: each router holds and routes only the partitions it owns (rendezvous hashing over the live routers), ingest is republished per partition to stream `TIDINGS_PARTS`, and one consumer per partition runs on its owner. Same value on every router; changing it needs the `TIDINGS_PARTS` backlog drained first.",
    }),
    membershipAckTimeoutSeconds: seconds({
      default: 2,
      above: 0,
      doc: "Cluster mode: longest time a Subscribe completion or a new connection's handshake answer waits until every live router acknowledged the new membership; after it the call completes anyway (counted in tidings_gateway_membership_ack_timeouts_total) and the routers learn it moments later.",
    }),
    routerAckWaitSeconds: seconds({
      default: 10,
      above: 0,
      doc: "A router keeps each ingest message it handles alive (also while it waits for the store); one not acked for this long, because its router died, is redelivered to another.",
    }),
    logLevel: oneOf({ values: LOG_LEVELS, default: "info", doc: "Lowest log level written." }),
  },
  {
    prefix: "TIDINGS_",
    // Read by the `tidings` CLI (docs/cli.md), so a shell that sets them can still start the server.
    foreign: ["TIDINGS_INGEST_KEY", "TIDINGS_TOKEN", "TIDINGS_URL"],
    rules: [
      {
        keys: ["authJwtSecret", "authJwksUrl"],
        check: (c, name) =>
          c.authJwtSecret !== undefined && c.authJwksUrl !== undefined
            ? `${name("authJwtSecret")} and ${name("authJwksUrl")} are both set: set only one`
            : undefined,
      },
      {
        // Only roles that serve the hub verify user tokens; routers and stores never see the signing key.
        keys: ["authJwtSecret", "authJwksUrl", "authAnonymous", "role"],
        check: (c, name) =>
          (c.role === "all" || c.role === "gateway") && c.authJwtSecret === undefined && c.authJwksUrl === undefined && !c.authAnonymous
            ? `no way to authenticate: set ${name("authJwtSecret")} or ${name("authJwksUrl")}, or ${name("authAnonymous")}=true`
            : undefined,
      },
      {
        keys: ["keepaliveSeconds", "clientTimeoutSeconds"],
        check: (c, name) =>
          c.clientTimeoutSeconds > c.keepaliveSeconds
            ? undefined
            : `${name("clientTimeoutSeconds")}=${c.clientTimeoutSeconds} must be greater than ${name("keepaliveSeconds")}=${c.keepaliveSeconds}`,
      },
      {
        keys: ["tenantValidation", "tenantValidationUrl"],
        check: (c, name) =>
          c.tenantValidation === "http" && c.tenantValidationUrl === undefined
            ? `${name("tenantValidation")}=http requires ${name("tenantValidationUrl")}`
            : undefined,
      },
      {
        keys: ["role", "natsUrl"],
        check: (c, name) =>
          c.role !== "all" && c.natsUrl === undefined
            ? `${name("role")}=${c.role} requires ${name("natsUrl")}: a single part cannot run without the cluster bus`
            : undefined,
      },
      {
        keys: ["natsCredsFile", "natsNkeySeedFile"],
        check: (c, name) =>
          c.natsCredsFile !== undefined && c.natsNkeySeedFile !== undefined
            ? `${name("natsCredsFile")} and ${name("natsNkeySeedFile")} are both set: set only one`
            : undefined,
      },
      {
        keys: ["natsTlsCertFile", "natsTlsKeyFile"],
        check: (c, name) =>
          (c.natsTlsCertFile === undefined) !== (c.natsTlsKeyFile === undefined)
            ? `${name("natsTlsCertFile")} and ${name("natsTlsKeyFile")} go together: set both or neither`
            : undefined,
      },
      {
        keys: ["apiPort", "port", "metricsPort"],
        check: (c, name) =>
          c.apiPort !== 0 && c.apiPort === c.metricsPort
            ? `${name("apiPort")}=${c.apiPort} equals ${name("metricsPort")}: use another port`
            : undefined,
      },
      {
        keys: ["port", "metricsPort"],
        check: (c, name) =>
          c.metricsPort === c.port
            ? `${name("metricsPort")}=${c.metricsPort} equals ${name("port")}: use another port, or 0 to turn metrics off`
            : undefined,
      },
    ],
    advice: [
      (c, name) =>
        c.keepaliveSeconds > 15
          ? `${name("keepaliveSeconds")}=${c.keepaliveSeconds} breaks default SignalR clients, whose server timeout is 30 s: keep it at 15 or below`
          : undefined,
      (c, name) =>
        c.ingestKeys.length === 0 ? `${name("ingestKeys")} is empty: POST /api/notifications accepts only loopback requests` : undefined,
      (c, name) =>
        c.authAnonymous ? `${name("authAnonymous")}=true: requests without a token are accepted as anonymous connections` : undefined,
      (c, name) =>
        c.tenantValidationUrl !== undefined && c.tenantValidation !== "http"
          ? `${name("tenantValidationUrl")} is set but ${name("tenantValidation")}=${c.tenantValidation}: the URL is not used`
          : undefined,
      (c, name) => (c.detailedErrors ? `${name("detailedErrors")}=true sends exception details to clients: development only` : undefined),
      (c, name) => (c.testing ? `${name("testing")}=true: POST /test/notifications is enabled` : undefined),
    ],
  },
);

/** The validated Tidings configuration; frozen. Optional settings are `undefined` when unset. */
export type TidingsConfig = InferConfig<typeof configSchema>;

/** A setting's camelCase key. */
export type TidingsConfigKey = keyof TidingsConfig;

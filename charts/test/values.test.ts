import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHART_DIR, lint, parseManifests, REPO_DIR, template, withValuesFile, type Manifest } from "./helm.js";
import { validateManifest } from "./models.js";

interface Schema {
  $schema: string;
  additionalProperties: boolean;
  properties: { config: { properties: Record<string, unknown> } };
}
const schema = JSON.parse(readFileSync(join(CHART_DIR, "values.schema.json"), "utf8")) as Schema;

/** Values that break values.schema.json: both `helm lint` and `helm template` must refuse them. */
const SCHEMA_VIOLATIONS: [string, unknown, RegExp][] = [
  ["an unknown top-level key", { replicas: 3 }, /additional properties 'replicas' not allowed/],
  ["an unknown key in a component", { gateway: { replicas: 3 } }, /additional properties 'replicas' not allowed/],
  ["an unknown mode", { mode: "ha" }, /mode/],
  ["the chart-managed API port in config", { config: { TIDINGS_API_PORT: 8081 } }, /additional properties 'TIDINGS_API_PORT' not allowed/],
  ["an HTTPRoute without a parent Gateway", { httpRoute: { enabled: true } }, /parentRefs/],
  ["an ingress idle timeout under a minute", { ingress: { websocketTimeoutSeconds: 30 } }, /websocketTimeoutSeconds/],
  ["a string replica count", { gateway: { replicaCount: "two" } }, /replicaCount.*want integer/],
  ["an unknown TIDINGS_ setting", { config: { TIDINGS_KEEPALIVE: 15 } }, /additional properties 'TIDINGS_KEEPALIVE' not allowed/],
  ["a chart-managed setting in config", { config: { TIDINGS_PORT: 9000 } }, /additional properties 'TIDINGS_PORT' not allowed/],
  [
    "a secret in config",
    { config: { TIDINGS_AUTH_JWT_SECRET: "x".repeat(40) } },
    /additional properties 'TIDINGS_AUTH_JWT_SECRET' not allowed/,
  ],
  ["a string where a boolean setting belongs", { config: { TIDINGS_AUTH_ANONYMOUS: "maybe" } }, /TIDINGS_AUTH_ANONYMOUS.*want boolean/],
  ["an unknown log level", { config: { TIDINGS_LOG_LEVEL: "verbose" } }, /TIDINGS_LOG_LEVEL/],
  ["a JWT secret shorter than 32 characters", { secrets: { authJwtSecret: "short" } }, /authJwtSecret/],
  ["an http:// NATS URL", { secrets: { natsUrl: "http://nats:4222" } }, /natsUrl/],
  ["a numeric image tag", { image: { tag: 1.2 } }, /tag.*want string/],
  ["a negative drain time", { drainSeconds: -1 }, /drainSeconds/],
  ["a sticky-session typo", { gateway: { service: { sessionAffinity: "Sticky" } } }, /sessionAffinity/],
];

/** Values the schema allows but the templates refuse with `fail` (helm lint only logs those, so check template). */
const RENDER_FAILURES: [string, unknown, RegExp][] = [
  [
    "a grace period that does not cover drain + preStop",
    { mode: "cluster", drainSeconds: 10, gateway: { preStopSleepSeconds: 5, terminationGracePeriodSeconds: 15 } },
    /gateway\.terminationGracePeriodSeconds \(15\) must exceed drainSeconds \(10\) \+ gateway\.preStopSleepSeconds \(5\)/,
  ],
  [
    "a longer drain without a longer grace period",
    { drainSeconds: 30 },
    /terminationGracePeriodSeconds \(30\) must exceed drainSeconds \(30\)/,
  ],
  [
    "TIDINGS_DATA_DIR in the standalone pod's extraEnv",
    { standalone: { extraEnv: [{ name: "TIDINGS_DATA_DIR", value: "/tmp" }] } },
    /standalone\.extraEnv sets TIDINGS_DATA_DIR, which the chart manages/,
  ],
  [
    "TIDINGS_DRAIN_SECONDS in extraEnv",
    { mode: "cluster", router: { extraEnv: [{ name: "TIDINGS_DRAIN_SECONDS", value: "60" }] } },
    /router\.extraEnv sets TIDINGS_DRAIN_SECONDS, which the chart manages/,
  ],
  [
    "a plain-text secret in extraEnv",
    { mode: "cluster", gateway: { extraEnv: [{ name: "TIDINGS_AUTH_JWT_SECRET", value: "x".repeat(40) }] } },
    /put it under secrets/,
  ],
  ["a store without a database", { mode: "cluster", secrets: { databaseUrlFrom: { name: "" } } }, /the store needs Postgres/],
  [
    "both databaseUrl and databaseUrlFrom",
    { secrets: { databaseUrl: "postgresql://u:p@db:5432/t" } },
    /only one of secrets\.databaseUrl and secrets\.databaseUrlFrom/,
  ],
  [
    "an existingSecret next to inline secrets",
    { secrets: { existingSecret: "creds", authJwtSecret: "x".repeat(40) } },
    /secrets\.existingSecret is set/,
  ],
  ["no NATS URL in cluster mode", { mode: "cluster", secrets: { natsUrl: "" } }, /secrets\.natsUrl is required/],
  [
    "both a JWT secret and a JWKS URL",
    { secrets: { authJwtSecret: "x".repeat(40) }, config: { TIDINGS_AUTH_JWKS_URL: "https://id.example.com/jwks" } },
    /only one of secrets\.authJwtSecret and config\.TIDINGS_AUTH_JWKS_URL/,
  ],
  [
    "http tenant validation without a URL",
    { config: { TIDINGS_TENANT_VALIDATION: "http" } },
    /requires config\.TIDINGS_TENANT_VALIDATION_URL/,
  ],
  [
    "an HPA without metrics",
    { mode: "cluster", router: { autoscaling: { enabled: true, targetCPUUtilizationPercentage: null } } },
    /router\.autoscaling is enabled without any metric/,
  ],
  [
    "an HPA with min above max",
    { mode: "cluster", gateway: { autoscaling: { enabled: true, minReplicas: 5, maxReplicas: 3 } } },
    /minReplicas \(5\) exceeds maxReplicas \(3\)/,
  ],
];

describe("values.schema.json", () => {
  it("is draft-07 and rejects unknown top-level keys", () => {
    expect(schema.$schema).toBe("http://json-schema.org/draft-07/schema#");
    expect(schema.additionalProperties).toBe(false);
  });

  it.each(SCHEMA_VIOLATIONS)("rejects %s (lint and template)", (_name, values, message) => {
    withValuesFile(values, (file) => {
      const linted = lint(file);
      expect(linted.status, linted.stdout).not.toBe(0);
      expect(linted.stdout + linted.stderr).toMatch(message);
      const rendered = template(file);
      expect(rendered.status).not.toBe(0);
      expect(rendered.stderr).toMatch(message);
    });
  });

  it("offers in `config` only settings the application defines, and never the secret or chart-managed ones", () => {
    // The README's configuration table is generated from packages/config (the source of truth).
    const readme = readFileSync(join(REPO_DIR, "README.md"), "utf8");
    const table = /<!-- config:start -->([\s\S]*?)<!-- config:end -->/.exec(readme)?.[1] ?? "";
    const documented = new Set([...table.matchAll(/^\| `(TIDINGS_[A-Z0-9_]+)` \|/gm)].map((m) => m[1]!));
    expect(documented.size).toBeGreaterThan(30);
    const offered = Object.keys(schema.properties.config.properties);
    for (const key of offered) expect(documented, `config.${key} is not a TIDINGS_ setting`).toContain(key);
    const managed = [
      "TIDINGS_ROLE",
      "TIDINGS_NODE_ID",
      "TIDINGS_PORT",
      "TIDINGS_API_PORT",
      "TIDINGS_METRICS_PORT",
      "TIDINGS_DRAIN_SECONDS",
      "TIDINGS_DATA_DIR",
    ];
    const secret = ["TIDINGS_AUTH_JWT_SECRET", "TIDINGS_INGEST_KEYS", "TIDINGS_NATS_URL", "TIDINGS_DATABASE_URL"];
    for (const key of [...managed, ...secret]) {
      expect(documented, key).toContain(key);
      expect(offered, key).not.toContain(key);
    }
  });
});

describe("render-time checks", () => {
  it.each(RENDER_FAILURES)("refuse %s", (_name, values, message) => {
    withValuesFile(values, (file) => {
      const r = template(file);
      expect(r.status, r.stdout.slice(0, 200)).not.toBe(0);
      expect(r.stderr).toMatch(message);
    });
  });

  it("accept a grace period just above drain + preStop", () => {
    withValuesFile({ drainSeconds: 24.5, gateway: { preStopSleepSeconds: 5, terminationGracePeriodSeconds: 30 } }, (file) => {
      const r = template(file);
      expect(r.status, r.stderr).toBe(0);
      const cm = parseManifests(r.stdout).find((m) => m.kind === "ConfigMap") as Manifest & { data: Record<string, string> };
      expect(cm.data["TIDINGS_DRAIN_SECONDS"]).toBe("24.5");
    });
  });
});

describe("manifest validation", () => {
  const deployment = (containers: unknown[]): Manifest => ({
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "x" },
    spec: { selector: { matchLabels: { a: "b" } }, template: { metadata: { labels: { a: "b" } }, spec: { containers } } },
  });

  it("accepts a valid object", () => {
    expect(() => validateManifest(deployment([{ name: "c", image: "i" }]))).not.toThrow();
  });

  it("rejects a wrongly typed field", () => {
    expect(() => validateManifest(deployment([{ name: "c", image: "i", ports: [{ containerPort: "http" }] }]))).toThrow(/containerPort/);
  });

  it("rejects a kind without a schema model", () => {
    expect(() => validateManifest({ apiVersion: "batch/v1", kind: "CronJob", metadata: { name: "x" } })).toThrow(/no schema model/);
    expect(() => validateManifest({ apiVersion: "example.com/v1", kind: "Widget", metadata: { name: "x" } })).toThrow(/no schema model/);
  });
});

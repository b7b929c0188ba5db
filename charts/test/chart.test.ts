import { readFileSync } from "node:fs";
import { join } from "node:path";
import { Deployment, StatefulSet } from "kubernetes-models/apps/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { Ingress, NetworkPolicy } from "kubernetes-models/networking.k8s.io/v1";
import { HTTPRoute } from "@kubernetes-models/gateway-api/gateway.networking.k8s.io/v1";
import { PodDisruptionBudget } from "kubernetes-models/policy/v1";
import { ConfigMap, Secret, Service } from "kubernetes-models/v1";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import type { IContainer } from "kubernetes-models/v1/Container";
import { describe, expect, it } from "vitest";
import { CHART_DIR, findHelm, lint, NAMESPACE, RELEASE, render, renderNotes, valuesCases, withValuesFile, type Manifest } from "./helm.js";
import { validateManifest } from "./models.js";

const COMPONENTS = ["gateway", "router", "store", "standalone"] as const;
/** Components whose pods verify user tokens and serve the hub. */
const EDGE = ["gateway", "standalone"];
const FULLNAME = RELEASE; // with default names: the release name contains the chart name
const STANDARD_LABELS = [
  "helm.sh/chart",
  "app.kubernetes.io/name",
  "app.kubernetes.io/instance",
  "app.kubernetes.io/version",
  "app.kubernetes.io/managed-by",
  "app.kubernetes.io/part-of",
];

const deployments = (ms: Manifest[]) => ms.filter((m) => Deployment.is(m)).map((m) => new Deployment(m as never));
const statefulSets = (ms: Manifest[]) => ms.filter((m) => StatefulSet.is(m)).map((m) => new StatefulSet(m as never));
/** Every pod-running object: the Deployments of cluster mode, the StatefulSet of standalone mode. */
const workloads = (ms: Manifest[]): Array<Deployment | StatefulSet> => [...deployments(ms), ...statefulSets(ms)];
const services = (ms: Manifest[]) => ms.filter((m) => Service.is(m)).map((m) => new Service(m as never));
const configMaps = (ms: Manifest[]) => ms.filter((m) => ConfigMap.is(m)).map((m) => new ConfigMap(m as never));
const containerOf = (d: Deployment | StatefulSet): IContainer => d.spec!.template.spec!.containers[0]!;
const componentOf = (m: { metadata?: { labels?: Record<string, string> } }) => m.metadata?.labels?.["app.kubernetes.io/component"];
const matches = (selector: Record<string, string>, labels: Record<string, string> | undefined) =>
  Object.entries(selector).every(([k, v]) => labels?.[k] === v);

/** The chart's own ConfigMap, named after the release's full name; every pod loads it with envFrom. */
const appConfigMap = (ms: Manifest[]) => {
  const [cm, ...more] = configMaps(ms).filter(
    (c) => c.metadata?.labels?.["app.kubernetes.io/component"] === undefined && !c.metadata!.name!.endsWith("-dashboard"),
  );
  if (cm === undefined || more.length > 0) throw new Error("expected exactly one application ConfigMap");
  return cm;
};
const appConfig = (ms: Manifest[]) => appConfigMap(ms).data ?? {};
/** The full name prefix of every object (fullnameOverride or <release>-tidings). */
const fullnameOf = (ms: Manifest[]) => appConfigMap(ms).metadata!.name!;

const envValue = (c: IContainer, name: string) => c.env?.find((e) => e.name === name);

/** Seconds slept by an exec preStop hook (`sleep N`), 0 without one. */
function preStopSeconds(c: IContainer): number {
  const cmd = c.lifecycle?.preStop?.exec?.command;
  if (cmd === undefined) return 0;
  const n = Number(cmd[cmd.length - 1]);
  if (cmd[0] !== "sleep" || !Number.isFinite(n)) throw new Error(`unexpected preStop command ${JSON.stringify(cmd)}`);
  return n;
}

describe("helm", () => {
  it("is installed (CI: go install helm.sh/helm/v3/cmd/helm@v3.22.0)", () => {
    expect(findHelm()).toMatch(/helm$/);
  });
});

describe.each(valuesCases())("values: $name", ({ file }) => {
  const rendered = (() => {
    try {
      return { manifests: render(file) };
    } catch (err) {
      return { error: err as Error };
    }
  })();
  const manifests = (): Manifest[] => {
    if (rendered.error !== undefined) throw rendered.error;
    return rendered.manifests;
  };

  it("passes helm lint --strict", () => {
    const r = lint(file);
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it("renders with helm template", () => {
    expect(manifests().length).toBeGreaterThan(0);
  });

  it("renders only kinds with a schema model, each valid against its schema", () => {
    for (const m of manifests()) validateManifest(m);
  });

  it("renders unique object names per kind, all in the release namespace, with the standard labels", () => {
    const seen = new Set<string>();
    for (const m of manifests()) {
      const key = `${m.kind}/${m.metadata.name}`;
      expect(seen.has(key), `duplicate ${key}`).toBe(false);
      seen.add(key);
      expect(m.metadata.name.length, key).toBeLessThanOrEqual(63);
      if (m.kind !== "ConfigMap" || !m.metadata.name.endsWith("-dashboard")) expect(m.metadata.namespace, key).toBe(NAMESPACE);
      for (const label of STANDARD_LABELS) expect(m.metadata.labels?.[label], `${key} lacks label ${label}`).toBeDefined();
    }
  });

  it("keeps terminationGracePeriodSeconds above drain seconds + preStop sleep", () => {
    const drain = Number(appConfig(manifests())["TIDINGS_DRAIN_SECONDS"]);
    expect(drain).toBeGreaterThanOrEqual(0);
    for (const d of workloads(manifests())) {
      const c = containerOf(d);
      expect(envValue(c, "TIDINGS_DRAIN_SECONDS"), "drain must come from the ConfigMap only").toBeUndefined();
      const grace = d.spec!.template.spec!.terminationGracePeriodSeconds!;
      expect(grace, `${d.metadata!.name}: grace ${grace} vs drain ${drain} + preStop ${preStopSeconds(c)}`).toBeGreaterThan(
        drain + preStopSeconds(c),
      );
    }
  });

  it("runs each component with its role, a pod-name node id, probes and a locked-down security context", () => {
    for (const d of workloads(manifests())) {
      const component = componentOf(d)!;
      expect(COMPONENTS).toContain(component);
      const pod = d.spec!.template.spec!;
      const c = containerOf(d);
      expect(envValue(c, "TIDINGS_ROLE")?.value).toBe(component === "standalone" ? "all" : component);
      expect(envValue(c, "TIDINGS_NODE_ID")?.valueFrom?.fieldRef?.fieldPath).toBe("metadata.name");
      expect(c.envFrom?.some((e) => e.configMapRef?.name === fullnameOf(manifests()))).toBe(true);
      // Standalone runs without NATS; every cluster component needs it.
      expect(envValue(c, "TIDINGS_NATS_URL")?.valueFrom?.secretKeyRef !== undefined).toBe(component !== "standalone");
      // The database URL reaches the store only; the JWT signing key and ingest keys only the pods that verify tokens.
      expect(envValue(c, "TIDINGS_DATABASE_URL") !== undefined).toBe(component === "store");
      expect(envValue(c, "TIDINGS_AUTH_JWT_SECRET") !== undefined).toBe(EDGE.includes(component));
      expect(envValue(c, "TIDINGS_INGEST_KEYS") !== undefined).toBe(EDGE.includes(component));
      for (const e of c.env ?? []) {
        if (/SECRET|KEYS|_URL$/.test(e.name) && e.name.startsWith("TIDINGS_"))
          expect(e.value, `${e.name} must come from a Secret`).toBeUndefined();
      }

      const ports = new Set((c.ports ?? []).map((p) => p.name));
      expect(ports.has("metrics")).toBe(true);
      expect(ports.has("http")).toBe(EDGE.includes(component));
      expect(ports.has("api")).toBe(EDGE.includes(component) && appConfig(manifests())["TIDINGS_API_PORT"] !== undefined);
      expect(c.livenessProbe?.httpGet?.path).toBe("/healthz");
      expect(c.readinessProbe?.httpGet?.path).toBe("/readyz");
      for (const probe of [c.livenessProbe, c.readinessProbe, c.startupProbe]) {
        if (probe?.httpGet !== undefined) expect(ports.has(String(probe.httpGet.port)), `probe port ${probe.httpGet.port}`).toBe(true);
      }

      expect(pod.securityContext?.runAsNonRoot).toBe(true);
      expect(c.securityContext?.runAsNonRoot).toBe(true);
      expect(c.securityContext?.readOnlyRootFilesystem).toBe(true);
      expect(c.securityContext?.allowPrivilegeEscalation).toBe(false);
      expect(c.securityContext?.capabilities?.drop).toContain("ALL");
      expect(pod.automountServiceAccountToken).toBe(false);
      expect(d.spec!.template.metadata?.annotations?.["checksum/config"]).toMatch(/^[0-9a-f]{64}$/);
    }
  });

  it("selects pods by name, instance and component only", () => {
    for (const d of workloads(manifests())) {
      const selector = d.spec!.selector.matchLabels!;
      expect(Object.keys(selector).sort()).toEqual(["app.kubernetes.io/component", "app.kubernetes.io/instance", "app.kubernetes.io/name"]);
      expect(matches(selector, d.spec!.template.metadata?.labels)).toBe(true);
    }
  });

  it("points every Service at pods and at a named container port", () => {
    const ds = workloads(manifests());
    for (const s of services(manifests())) {
      const target = ds.find((d) => matches(s.spec!.selector!, d.spec!.template.metadata?.labels));
      expect(target, `Service ${s.metadata!.name} selects no workload`).toBeDefined();
      const ports = new Set((containerOf(target!).ports ?? []).map((p) => p.name));
      for (const p of s.spec!.ports!) expect(ports.has(String(p.targetPort)), `${s.metadata!.name} → ${p.targetPort}`).toBe(true);
    }
  });

  it("exposes the gateway on port 80 → http without sticky sessions, and metrics only on internal Services", () => {
    const fullname = fullnameOf(manifests());
    const gateway = services(manifests()).find((s) => s.metadata!.name === `${fullname}-gateway`);
    const metrics = services(manifests()).filter((s) => s.metadata!.labels?.["tidings.io/metrics"] === "true");
    if (gateway !== undefined) {
      expect(gateway.spec!.ports!.map((p) => p.targetPort)).toEqual(["http"]);
      expect(gateway.spec!.ports!.some((p) => p.name === "metrics")).toBe(false);
    }
    for (const s of metrics) {
      expect(s.spec!.type).toBe("ClusterIP");
      expect(s.spec!.ports!.map((p) => p.targetPort)).toEqual(["metrics"]);
      expect(s.metadata!.name).toBe(`${fullname}-${componentOf(s)!}-metrics`);
    }
    expect(metrics.length).toBe(workloads(manifests()).length);
    // The API port has an internal Service of its own, never the public one.
    const api = services(manifests()).find((s) => s.metadata!.name === `${fullname}-gateway-api`);
    expect(api !== undefined).toBe(appConfig(manifests())["TIDINGS_API_PORT"] !== undefined);
    if (api !== undefined) {
      expect(api.spec!.type).toBe("ClusterIP");
      expect(api.spec!.ports!.map((p) => p.targetPort)).toEqual(["api"]);
    }
  });

  it("scales with an HPA instead of a fixed replica count, and budgets disruptions per component", () => {
    const ds = deployments(manifests());
    const hpas = manifests()
      .filter((m) => HorizontalPodAutoscaler.is(m))
      .map((m) => new HorizontalPodAutoscaler(m as never));
    for (const h of hpas) {
      const d = ds.find((x) => x.metadata!.name === h.spec!.scaleTargetRef.name);
      expect(d, `HPA ${h.metadata!.name} targets no Deployment`).toBeDefined();
      expect(d!.spec!.replicas, `${d!.metadata!.name} sets replicas under an HPA`).toBeUndefined();
      expect(h.spec!.metrics!.length).toBeGreaterThan(0);
    }
    for (const d of ds) {
      if (!hpas.some((h) => h.spec!.scaleTargetRef.name === d.metadata!.name)) expect(d.spec!.replicas).toBeGreaterThanOrEqual(0);
    }
    for (const p of manifests()
      .filter((m) => PodDisruptionBudget.is(m))
      .map((m) => new PodDisruptionBudget(m as never))) {
      expect(
        ds.some((d) => matches(p.spec!.selector!.matchLabels!, d.spec!.template.metadata?.labels)),
        p.metadata!.name,
      ).toBe(true);
      expect((p.spec!.maxUnavailable === undefined) !== (p.spec!.minAvailable === undefined)).toBe(true);
    }
  });

  it("lets the ServiceMonitor scrape exactly the metrics Services", () => {
    const sms = manifests()
      .filter((m) => ServiceMonitor.is(m))
      .map((m) => new ServiceMonitor(m as never));
    for (const sm of sms) {
      const selected = services(manifests()).filter((s) => matches(sm.spec.selector.matchLabels!, s.metadata!.labels));
      expect(selected.length).toBeGreaterThan(0);
      for (const s of selected) expect(s.metadata!.labels?.["tidings.io/metrics"]).toBe("true");
      expect(sm.spec.endpoints!.map((e) => e.port)).toEqual(["metrics"]);
    }
  });

  it("keeps secrets out of the ConfigMap and references only Secrets that exist or are external", () => {
    const config = appConfig(manifests());
    for (const key of Object.keys(config)) expect(key).toMatch(/^TIDINGS_[A-Z0-9_]+$/);
    for (const key of [
      "TIDINGS_AUTH_JWT_SECRET",
      "TIDINGS_INGEST_KEYS",
      "TIDINGS_NATS_URL",
      "TIDINGS_DATABASE_URL",
      "TIDINGS_ROLE",
      "TIDINGS_NODE_ID",
    ]) {
      expect(config[key], key).toBeUndefined();
    }
    const secrets = manifests()
      .filter((m) => Secret.is(m))
      .map((m) => new Secret(m as never));
    for (const s of secrets) {
      for (const v of Object.values(s.data ?? {})) {
        const plain = Buffer.from(v, "base64").toString("utf8");
        expect(Object.values(config)).not.toContain(plain);
      }
    }
  });

  it("ships the Grafana dashboard verbatim, labelled for the sidecar", () => {
    const cm = configMaps(manifests()).find((c) => c.metadata!.name === `${fullnameOf(manifests())}-dashboard`);
    if (cm === undefined) return;
    expect(cm.metadata!.labels?.["grafana_dashboard"]).toBe("1");
    const file = readFileSync(join(CHART_DIR, "dashboards", "tidings.json"), "utf8");
    expect(JSON.parse(cm.data!["tidings.json"]!)).toEqual(JSON.parse(file));
  });

  it("limits NetworkPolicy ingress to the gateway http (and api) port and the metrics ports", () => {
    const apiPort = appConfig(manifests())["TIDINGS_API_PORT"] !== undefined;
    for (const np of manifests()
      .filter((m) => NetworkPolicy.is(m))
      .map((m) => new NetworkPolicy(m as never))) {
      const ports = (np.spec!.ingress ?? []).flatMap((r) => (r.ports ?? []).map((p) => p.port));
      const edge = EDGE.includes(componentOf(np)!);
      expect(ports.sort()).toEqual(edge ? (apiPort ? ["api", "http", "metrics"] : ["http", "metrics"]) : ["metrics"]);
    }
  });

  it("routes an Ingress or HTTPRoute to the public gateway Service's http port, with WebSocket-safe timeouts", () => {
    const fullname = fullnameOf(manifests());
    for (const ing of manifests()
      .filter((m) => Ingress.is(m))
      .map((m) => new Ingress(m as never))) {
      const timeout = Number(ing.metadata!.annotations!["nginx.ingress.kubernetes.io/proxy-read-timeout"]);
      expect(timeout).toBeGreaterThanOrEqual(3600);
      expect(ing.metadata!.annotations!["nginx.ingress.kubernetes.io/proxy-send-timeout"]).toBe(String(timeout));
      for (const rule of ing.spec!.rules!) {
        for (const p of rule.http!.paths) expect(p.backend.service).toEqual({ name: `${fullname}-gateway`, port: { name: "http" } });
      }
    }
    for (const route of manifests()
      .filter((m) => HTTPRoute.is(m))
      .map((m) => new HTTPRoute(m as never))) {
      const gatewayService = services(manifests()).find((s) => s.metadata!.name === `${fullname}-gateway`)!;
      for (const rule of route.spec.rules!) {
        expect(rule.backendRefs).toEqual([{ name: `${fullname}-gateway`, port: gatewayService.spec!.ports![0]!.port }]);
        expect(rule.timeouts).toEqual({ request: "0s", backendRequest: "0s" });
      }
      expect(route.spec.parentRefs!.length).toBeGreaterThan(0);
    }
  });

  it("renders NOTES.txt with the gateway address and the NATS and Postgres recommendations", () => {
    const notes = renderNotes(file);
    expect(notes).toContain("nats/nats");
    expect(notes).toContain("jetstream");
    expect(notes).toMatch(/Drain: on SIGTERM/);
    if (workloads(manifests()).some((d) => EDGE.includes(componentOf(d)!)))
      expect(notes).toContain(`svc/${fullnameOf(manifests())}-gateway `);
    if (deployments(manifests()).some((d) => componentOf(d) === "store")) expect(notes).toContain("CloudNativePG");
  });
});

describe("defaults (zero-config evaluation install)", () => {
  const manifests = render();

  it("run one standalone StatefulSet pod with its embedded Postgres on a PersistentVolumeClaim, and no NATS", () => {
    expect(deployments(manifests)).toEqual([]);
    const [sts, ...more] = statefulSets(manifests);
    expect(more).toEqual([]);
    expect(sts!.spec!.replicas).toBe(1);
    const c = containerOf(sts!);
    expect(envValue(c, "TIDINGS_ROLE")?.value).toBe("all");
    expect(envValue(c, "TIDINGS_NATS_URL")).toBeUndefined();
    expect(envValue(c, "TIDINGS_DATABASE_URL")).toBeUndefined();
    const dataDir = envValue(c, "TIDINGS_DATA_DIR")!.value!;
    const mount = c.volumeMounts!.find((m) => dataDir.startsWith(`${m.mountPath}/`))!;
    expect(sts!.spec!.volumeClaimTemplates!.map((v) => v.metadata!.name)).toEqual([mount.name]);
    expect(sts!.spec!.volumeClaimTemplates![0]!.spec!.resources!.requests!["storage"]).toBe("2Gi");
    expect(sts!.spec!.persistentVolumeClaimRetentionPolicy?.whenDeleted).toBe("Retain");
    // Readiness is the process's /readyz on the metrics port, which includes a database query.
    expect(c.readinessProbe?.httpGet).toEqual({ path: "/readyz", port: "metrics" });
    expect(manifests.some((m) => m.kind === "PodDisruptionBudget")).toBe(false);
  });

  it("generate an HS256 key of 48 characters into the chart's Secret, and nothing else there", () => {
    const secret = new Secret(manifests.find((m) => m.kind === "Secret") as never);
    expect(Object.keys(secret.data!)).toEqual(["TIDINGS_AUTH_JWT_SECRET"]);
    expect(Buffer.from(secret.data!["TIDINGS_AUTH_JWT_SECRET"]!, "base64").toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    // A new random key at every render is not a reason to restart pods: the checksum ignores it.
    const again = render();
    const annotations = (ms: Manifest[]) => statefulSets(ms)[0]!.spec!.template.metadata!.annotations;
    expect(annotations(again)).toEqual(annotations(manifests));
  });

  it("keep the generated key of an installed release across upgrades (lookup)", () => {
    const tpl = readFileSync(join(CHART_DIR, "templates", "_helpers.tpl"), "utf8");
    const helper = /define "tidings.generatedJwtSecret"[\s\S]*?{{- end }}\n{{- end }}/.exec(tpl)?.[0] ?? "";
    expect(helper).toMatch(/lookup "v1" "Secret" \(include "tidings.namespace" \.\) \(include "tidings.fullname" \.\)/);
    expect(helper).toMatch(/index \$data "TIDINGS_AUTH_JWT_SECRET" \| b64dec/);
  });

  it("leave monitoring objects, NetworkPolicy, HPA, Ingress and HTTPRoute off", () => {
    const kinds = new Set(manifests.map((m) => m.kind));
    for (const kind of ["ServiceMonitor", "PrometheusRule", "NetworkPolicy", "HorizontalPodAutoscaler", "Ingress", "HTTPRoute"])
      expect(kinds.has(kind), kind).toBe(false);
  });

  it("tell in NOTES.txt how to read the generated key, and warn only when generation is off", () => {
    const notes = renderNotes();
    expect(notes).toContain("kubectl -n notify get secret tidings -o jsonpath='{.data.TIDINGS_AUTH_JWT_SECRET}' | base64 -d");
    expect(notes).not.toContain("no authentication is configured");
    withValuesFile({ secrets: { generateJwtSecret: false } }, (file) => {
      expect(renderNotes(file)).toContain("no authentication is configured");
      const secret = render(file).find((m) => m.kind === "Secret") as Manifest & { data?: Record<string, string> };
      expect(secret.data ?? {}).toEqual({});
    });
  });
});

describe("mode: cluster", () => {
  const manifests = withValuesFile({ mode: "cluster" }, (file) => render(file));

  it("runs two replicas of each component with PDBs, external NATS and a CloudNativePG database Secret", () => {
    const ds = deployments(manifests);
    expect(ds.map((d) => [componentOf(d), d.spec!.replicas])).toEqual([
      ["gateway", 2],
      ["router", 2],
      ["store", 2],
    ]);
    expect(statefulSets(manifests)).toEqual([]);
    expect(manifests.filter((m) => m.kind === "PodDisruptionBudget")).toHaveLength(3);
    const store = ds.find((d) => componentOf(d) === "store")!;
    expect(envValue(containerOf(store), "TIDINGS_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "tidings-db-app", key: "uri" });
    const secret = new Secret(manifests.find((m) => m.kind === "Secret") as never);
    expect(Buffer.from(secret.data!["TIDINGS_NATS_URL"]!, "base64").toString()).toBe("nats://nats:4222");
    expect(Object.keys(secret.data!).sort()).toEqual(["TIDINGS_AUTH_JWT_SECRET", "TIDINGS_NATS_URL"]);
  });
});

describe("ci/cluster-secured-values.yaml", () => {
  const manifests = render(join(CHART_DIR, "ci", "cluster-secured-values.yaml"));

  it("maps the existing Secret's own key names and mounts the NATS and Postgres files where the settings point", () => {
    const config = appConfig(manifests);
    for (const d of deployments(manifests)) {
      const c = containerOf(d);
      const component = componentOf(d)!;
      expect(envValue(c, "TIDINGS_NATS_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "platform-tidings", key: "nats-url" });
      if (component === "gateway")
        expect(envValue(c, "TIDINGS_AUTH_JWT_SECRET")?.valueFrom?.secretKeyRef).toEqual({
          name: "platform-tidings",
          key: "jwt-key",
          optional: true,
        });
      if (component === "store")
        expect(envValue(c, "TIDINGS_DATABASE_URL")?.valueFrom?.secretKeyRef).toEqual({ name: "platform-tidings", key: "pg-url" });
      const files = [
        "TIDINGS_NATS_CREDS_FILE",
        "TIDINGS_NATS_TLS_CA_FILE",
        "TIDINGS_NATS_TLS_CERT_FILE",
        "TIDINGS_NATS_TLS_KEY_FILE",
        ...(component === "store" ? ["TIDINGS_DATABASE_SSL_ROOT_CERT"] : []),
      ];
      const volumes = new Set(d.spec!.template.spec!.volumes!.map((v) => v.name));
      for (const key of files) {
        const mount = c.volumeMounts!.find((m) => config[key]!.startsWith(`${m.mountPath}/`));
        expect(mount, `${component}: ${key}=${config[key]} is not under a mount`).toBeDefined();
        expect(volumes.has(mount!.name)).toBe(true);
      }
    }
    expect(manifests.some((m) => m.kind === "Secret")).toBe(false);
    expect(config["TIDINGS_JETSTREAM_REPLICAS"]).toBe("3");
    expect(config["TIDINGS_JETSTREAM_MAX_BYTES"]).toBe("4294967296");
  });
});

describe("ci/full-values.yaml", () => {
  const file = join(CHART_DIR, "ci", "full-values.yaml");
  const manifests = render(file);

  it("scales the gateway on CPU and on tidings_gateway_connections per pod", () => {
    const hpa = new HorizontalPodAutoscaler(
      manifests.find((m) => m.kind === "HorizontalPodAutoscaler" && m.metadata.name === `${FULLNAME}-gateway`) as never,
    );
    expect(hpa.spec!.metrics!.map((m) => m.type)).toEqual(["Resource", "Pods"]);
    expect(hpa.spec!.metrics![1]!.pods!.metric.name).toBe("tidings_gateway_connections");
    expect(hpa.spec!.behavior?.scaleDown?.stabilizationWindowSeconds).toBeGreaterThanOrEqual(600);
  });

  it("renders config numbers without exponents and keeps decimals", () => {
    const config = appConfig(manifests);
    expect(config["TIDINGS_MAX_TRANSPORT_BYTES"]).toBe("1048576");
    expect(config["TIDINGS_MAX_BACKPRESSURE_BYTES"]).toBe("2097152");
    expect(config["TIDINGS_DEDUPE_WINDOW_SECONDS"]).toBe("120.5");
    expect(config["TIDINGS_STATEFUL_RECONNECT"]).toBe("true");
    expect(config["TIDINGS_DRAIN_SECONDS"]).toBe("20");
  });

  it("joins ingest keys into one comma-separated Secret value and ships the dashboard ConfigMap", () => {
    const secret = new Secret(manifests.find((m) => m.kind === "Secret") as never);
    expect(Buffer.from(secret.data!["TIDINGS_INGEST_KEYS"]!, "base64").toString()).toBe("billing-key-1,crm-key-2");
    expect(manifests.some((m) => m.kind === "ConfigMap" && m.metadata.name === `${FULLNAME}-dashboard`)).toBe(true);
    expect(renderNotes(file)).not.toContain("no authentication is configured");
  });
});

describe("ci/existing-secret-values.yaml", () => {
  const manifests = render(join(CHART_DIR, "ci", "existing-secret-values.yaml"));

  it("creates no Secret and reads every secret setting from the existing one", () => {
    expect(manifests.some((m) => m.kind === "Secret")).toBe(false);
    for (const d of deployments(manifests)) {
      const c = containerOf(d);
      const refs = (c.env ?? []).flatMap((e) => (e.valueFrom?.secretKeyRef ? [e.valueFrom.secretKeyRef.name] : []));
      expect(new Set(refs)).toEqual(new Set(["tidings-credentials"]));
      expect(d.spec!.template.metadata?.annotations?.["checksum/secret"]).toBeUndefined();
      expect(c.image).toBe(
        "registry.internal.example.com/tidings/tidings@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
      );
      expect(d.spec!.template.spec!.imagePullSecrets).toEqual([{ name: "internal-registry" }]);
    }
  });
});

describe("ci/minimal-values.yaml", () => {
  const manifests = render(join(CHART_DIR, "ci", "minimal-values.yaml"));

  it("runs one replica of each component without PDBs or a test pod", () => {
    expect(deployments(manifests).map((d) => d.spec!.replicas)).toEqual([1, 1, 1]);
    expect(manifests.some((m) => m.kind === "PodDisruptionBudget" || m.kind === "Pod")).toBe(false);
  });
});

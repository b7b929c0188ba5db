import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";
import { HorizontalPodAutoscaler } from "kubernetes-models/autoscaling/v2";
import { describe, expect, it } from "vitest";
import { CHART_DIR, render, valuesCases } from "./helm.js";
import { isKnownMetric, knownMetrics, metricNamesIn, metricNamesInVariableQuery } from "./metrics.js";

interface Target {
  expr?: string;
  refId?: string;
  datasource?: { uid?: string };
}
interface Panel {
  id: number;
  type: string;
  title: string;
  datasource?: { type?: string; uid?: string };
  gridPos: { x: number; y: number; w: number; h: number };
  targets?: Target[];
  panels?: Panel[];
}
interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; query: string | { query: string } }[] };
}

const KNOWN = knownMetrics();
const unknownIn = (names: string[]) => names.filter((n) => !isKnownMetric(n, KNOWN));

describe("metric catalogue (the services' exported metricNames() and process metrics)", () => {
  it("lists valid Tidings metric names from every service", () => {
    expect(KNOWN.size).toBeGreaterThan(30);
    for (const name of KNOWN)
      expect(name).toMatch(
        /^(tidings_(gateway|router|store)_[a-z0-9_]+|tidings_build_info|tidings_unexpected_errors_total|process_[a-z0-9_]+|nodejs_[a-z0-9_]+)$/,
      );
    for (const name of [
      "tidings_gateway_connections",
      "tidings_router_jetstream_pending",
      "tidings_store_replay_notifications",
      "process_cpu_seconds_total",
      "nodejs_eventloop_lag_p99_seconds",
      "tidings_build_info",
    ]) {
      expect(KNOWN.has(name), name).toBe(true);
    }
  });

  it("expands histograms and summaries but not counters", () => {
    expect(isKnownMetric("tidings_gateway_delivery_latency_seconds_bucket", KNOWN)).toBe(true);
    expect(isKnownMetric("tidings_store_replay_notifications_count", KNOWN)).toBe(true);
    expect(isKnownMetric("tidings_gateway_connects_total_bucket", KNOWN)).toBe(false);
    expect(isKnownMetric("tidings_gateway_conections", KNOWN)).toBe(false);
    expect(isKnownMetric("up", KNOWN)).toBe(true);
  });
});

describe("PromQL metric extraction", () => {
  it.each([
    ['up{job="a-gateway-metrics"} == 0', ["up"]],
    ['absent(up{job="x"} == 1)', ["up"]],
    ['histogram_quantile(0.99, sum by (le) (rate(a_seconds_bucket{job=~"x|y"}[5m]))) > 0.5', ["a_seconds_bucket"]],
    ["sum(rate(a_total[$__rate_interval])) / sum without (pod) (b)", ["a_total", "b"]],
    ['max by (pod) (a{ns="$namespace"}) > 1e3 or on (pod) b offset 5m', ["a", "b"]],
    ["sum(a) by (reason) and ignoring(x) c{l='it''s'}", ["a", "c"]],
  ])("%s", (expr, names) => {
    expect(metricNamesIn(expr).sort()).toEqual([...names].sort());
  });

  it("reads Grafana variable queries", () => {
    expect(metricNamesInVariableQuery('label_values(a_seconds{namespace="$namespace"}, job)')).toEqual(["a_seconds"]);
    expect(metricNamesInVariableQuery("label_values(namespace)")).toEqual([]);
    expect(metricNamesInVariableQuery("query_result(sum(b_total))")).toEqual(["b_total"]);
  });
});

describe("Grafana dashboard (dashboards/tidings.json)", () => {
  const dashboard = JSON.parse(readFileSync(join(CHART_DIR, "dashboards", "tidings.json"), "utf8")) as Dashboard;
  const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
  const queryPanels = panels.filter((p) => p.type !== "row");

  it("has a uid, a title and unique panel ids inside a 24-column grid", () => {
    expect(dashboard.uid).toBe("tidings-overview");
    expect(dashboard.title).toBe("Tidings");
    expect(new Set(panels.map((p) => p.id)).size).toBe(panels.length);
    for (const p of panels) expect(p.gridPos.x + p.gridPos.w, p.title).toBeLessThanOrEqual(24);
  });

  it("queries the selectable Prometheus data source in every panel", () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(["datasource", "namespace", "release"]));
    expect(queryPanels.length).toBeGreaterThan(20);
    for (const p of queryPanels) {
      expect(p.datasource?.uid, p.title).toBe("${datasource}");
      expect(p.targets?.length, p.title).toBeGreaterThan(0);
      for (const t of p.targets ?? [])
        expect(t.expr, p.title).toMatch(/namespace="\$namespace",job="\$release-(gateway|router|store)-metrics"/);
    }
  });

  it("uses only metrics the services export", () => {
    const used = new Set<string>();
    for (const p of queryPanels) for (const t of p.targets ?? []) for (const n of metricNamesIn(t.expr ?? "")) used.add(n);
    for (const v of dashboard.templating.list) {
      if (v.type !== "query") continue;
      for (const n of metricNamesInVariableQuery(typeof v.query === "string" ? v.query : v.query.query)) used.add(n);
    }
    expect(used.size).toBeGreaterThan(20);
    expect(unknownIn([...used])).toEqual([]);
  });
});

describe.each(valuesCases())("alert rules and HPA metrics: $name", ({ file }) => {
  const manifests = render(file);
  const rules = manifests
    .filter((m) => PrometheusRule.is(m))
    .flatMap((m) => new PrometheusRule(m as never).spec.groups?.flatMap((g) => g.rules ?? []) ?? []);

  it("use only metrics the services export", () => {
    const exprs = rules.map((r) => String(r.expr));
    for (const m of manifests.filter((x) => HorizontalPodAutoscaler.is(x))) {
      for (const metric of new HorizontalPodAutoscaler(m as never).spec?.metrics ?? []) {
        if (metric.pods !== undefined) exprs.push(metric.pods.metric.name);
      }
    }
    expect(unknownIn(exprs.flatMap(metricNamesIn))).toEqual([]);
  });

  it("give every alert a severity, a summary and a description, selecting the release's metrics jobs", () => {
    const jobs = new Set(manifests.filter((m) => m.kind === "Service" && m.metadata.name.endsWith("-metrics")).map((m) => m.metadata.name));
    for (const r of rules.filter((x) => x.alert?.startsWith("Tidings"))) {
      expect(r.labels?.["severity"], r.alert).toMatch(/^(critical|warning|info)$/);
      expect(r.annotations?.["summary"], r.alert).toBeTruthy();
      expect(r.annotations?.["description"], r.alert).toBeTruthy();
      for (const m of String(r.expr).matchAll(/job="([^"]+)"/g)) expect(jobs, `${r.alert} selects job ${m[1]}`).toContain(m[1]);
    }
  });
});

describe("alert rules with everything on (ci/full-values.yaml)", () => {
  const manifests = render(join(CHART_DIR, "ci", "full-values.yaml"));
  const rules = manifests
    .filter((m) => PrometheusRule.is(m))
    .flatMap((m) => new PrometheusRule(m as never).spec.groups?.flatMap((g) => g.rules ?? []) ?? []);
  const byName = new Map(rules.map((r) => [r.alert, r]));

  it("include node down, slow consumers, JetStream backlog, p99 latency, dead letters and event-loop lag", () => {
    expect([...byName.keys()]).toEqual(
      expect.arrayContaining([
        "TidingsTargetDown",
        "TidingsGatewayUnavailable",
        "TidingsRouterUnavailable",
        "TidingsStoreUnavailable",
        "TidingsIngestUnavailable",
        "TidingsJetStreamBacklogUnknown",
        "TidingsSlowConsumerDisconnectsHigh",
        "TidingsJetStreamBacklog",
        "TidingsDeliveryLatencyHigh",
        "TidingsDeadLettersIncreasing",
        "TidingsStoreFailures",
        "TidingsEventLoopLagHigh",
      ]),
    );
    expect(String(byName.get("TidingsJetStreamBacklog")!.expr)).toContain("tidings_router_jetstream_pending");
    expect(byName.get("TidingsJetStreamBacklog")!.for).toBe("5m");
    expect(String(byName.get("TidingsDeliveryLatencyHigh")!.expr)).toMatch(
      /histogram_quantile\(0\.99, .*tidings_gateway_delivery_latency_seconds_bucket/,
    );
    expect(String(byName.get("TidingsGatewayUnavailable")!.expr)).toMatch(/^absent\(up\{job="tidings-gateway-metrics"/);
    expect(byName.get("TidingsGatewayUnavailable")!.labels?.["severity"]).toBe("critical");
  });

  it("fire when every pod of a role is down, when producers get 503s, and when no router reports the backlog", () => {
    for (const component of ["gateway", "router", "store"]) {
      const rule = byName.get(`Tidings${component[0]!.toUpperCase()}${component.slice(1)}Unavailable`)!;
      expect(String(rule.expr)).toBe(`absent(up{job="tidings-${component}-metrics",namespace="notify"} == 1)`);
      expect(rule.labels?.["severity"]).toBe("critical");
    }
    expect(String(byName.get("TidingsIngestUnavailable")!.expr)).toMatch(
      /rate\(tidings_gateway_ingest_notifications_total\{[^}]*result="unavailable"[^}]*\}\[5m\]\)\) > 0$/,
    );
    expect(String(byName.get("TidingsJetStreamBacklogUnknown")!.expr)).toMatch(
      /^absent\(tidings_router_jetstream_pending\{job="tidings-router-metrics"/,
    );
  });

  it("link every alert to its runbook in docs/runbooks", () => {
    // The chart's own alerts; full-values.yaml adds one of its own through extraRules.
    const extra = new Set(["TidingsNoConnections"]);
    const own = rules.filter((x) => x.alert?.startsWith("Tidings") && !extra.has(x.alert));
    expect(own.length).toBeGreaterThan(10);
    for (const r of own) {
      const url = r.annotations?.["runbook_url"];
      expect(url, r.alert).toBe(`https://github.com/tidings/tidings/blob/main/docs/runbooks/${r.alert}.md`);
      const runbook = readFileSync(join(CHART_DIR, "..", "..", "docs", "runbooks", `${r.alert}.md`), "utf8");
      expect(runbook, r.alert).toMatch(new RegExp(`^# ${r.alert}\n`));
    }
  });

  it("leave out disabled alerts and those of disabled components", () => {
    const gatewayOnly = render(join(CHART_DIR, "ci", "gateway-only-values.yaml"));
    const names = gatewayOnly
      .filter((m) => PrometheusRule.is(m))
      .flatMap((m) => new PrometheusRule(m as never).spec.groups?.flatMap((g) => (g.rules ?? []).map((r) => r.alert)) ?? []);
    expect(names).toContain("TidingsSlowConsumerDisconnectsHigh");
    expect(names).not.toContain("TidingsEventLoopLagHigh");
    expect(names).not.toContain("TidingsJetStreamBacklog");
  });
});

import { metricNames as gatewayMetricNames } from "@tidings/gateway";
import { createRegistry } from "@tidings/observability";
import { metricNames as routerMetricNames } from "@tidings/router";
import { metricNames as storeMetricNames } from "@tidings/store";
/** Every metric name the services export: their `metricNames()` plus the process metrics of each prefix. */
export function knownMetrics(): Set<string> {
  const names = new Set([...gatewayMetricNames(), ...routerMetricNames(), ...storeMetricNames()]);
  // Every process's registry: Node/process metrics under their standard names, build info, unexpected errors.
  for (const metric of createRegistry({ node: "catalogue", build: { version: "dev", revision: "unknown" } }).getMetricsAsArray())
    names.add(metric.name);
  return names;
}

/** Series Prometheus itself attaches to every target. */
const PROMETHEUS_BUILTINS = new Set(["up", "scrape_duration_seconds", "scrape_samples_scraped"]);

/**
 * A name is known when it is listed, built in, or the `_bucket` / `_sum` / `_count` series of a listed
 * histogram or summary. Types are not listed, so any listed name not ending in `_total` (counters) may
 * have those series.
 */
export function isKnownMetric(name: string, known: Set<string>): boolean {
  if (known.has(name) || PROMETHEUS_BUILTINS.has(name)) return true;
  const m = /^(.*)_(bucket|sum|count)$/.exec(name);
  return m !== null && known.has(m[1]!) && !m[1]!.endsWith("_total");
}

const PROMQL_KEYWORDS = new Set([
  "by",
  "without",
  "on",
  "ignoring",
  "group_left",
  "group_right",
  "bool",
  "and",
  "or",
  "unless",
  "offset",
  "inf",
  "nan",
]);

/**
 * Metric names a PromQL expression selects (good enough for dashboards and rules, not a full parser):
 * strings, label matchers, range selectors, grouping clauses and Grafana variables are removed, then
 * every remaining identifier that is not a function call, keyword or part of a number is a metric name.
 */
export function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`/g, '""')
    .replace(/\{[^}]*\}/g, " ")
    .replace(/\[[^\]]*\]/g, " ")
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, " ")
    .replace(/\$\{?[A-Za-z_][A-Za-z0-9_]*(:[A-Za-z]+)?\}?/g, " ")
    .replace(/\boffset\s+-?[0-9a-z]+/g, " ");
  const names = new Set<string>();
  for (const m of stripped.matchAll(/[A-Za-z_:][A-Za-z0-9_:]*/g)) {
    const start = m.index;
    const word = m[0];
    if (start > 0 && /[0-9.]/.test(stripped[start - 1]!)) continue; // 1e3, 0.5e-2
    if (/^\s*\(/.test(stripped.slice(start + word.length))) continue; // function call
    if (PROMQL_KEYWORDS.has(word.toLowerCase())) continue;
    names.add(word);
  }
  return [...names];
}

/** Metric names in a Grafana templating query: `label_values(<selector>, label)`, `query_result(<expr>)`, or PromQL. */
export function metricNamesInVariableQuery(query: string): string[] {
  const labelValues = /^\s*label_values\((.*),\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/.exec(query);
  if (labelValues !== null) return metricNamesIn(labelValues[1]!);
  if (/^\s*label_values\(\s*[A-Za-z_][A-Za-z0-9_]*\s*\)\s*$/.test(query) || /^\s*label_names\(\)\s*$/.test(query)) return [];
  const queryResult = /^\s*query_result\((.*)\)\s*$/.exec(query);
  return metricNamesIn(queryResult !== null ? queryResult[1]! : query);
}

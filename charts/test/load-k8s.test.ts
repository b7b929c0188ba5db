import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PersistentVolumeClaim, Pod } from "kubernetes-models/v1";
import { Job } from "kubernetes-models/batch/v1";
import { describe, expect, it } from "vitest";
import { parseAllDocuments } from "yaml";
import { RELEASE, REPO_DIR, render } from "./helm.js";

// load/k8s: the load suites on Kubernetes must point at the Service the chart creates, and a headless
// run must be a Job whose results outlive it.
const LOAD_DIR = join(REPO_DIR, "load");
const docs = parseAllDocuments(readFileSync(join(LOAD_DIR, "k8s", "headless-job.yaml"), "utf8")).map((d) => d.toJS() as { kind: string });
const job = new Job(docs.find((d) => d.kind === "Job") as never);
const container = job.spec!.template.spec!.containers[0]!;
const env = new Map((container.env ?? []).map((e) => [e.name, e.value ?? ""]));

/** Where the chart's gateway Service answers for release `tidings` installed in namespace `tidings` (the examples' names). */
function gatewayServiceUrl(): string {
  const service = render().find((m) => m.kind === "Service" && m.metadata.name === `${RELEASE}-gateway`) as
    { metadata: { name: string }; spec: { ports: { name: string; port: number }[] } } | undefined;
  expect(service, "the chart renders a <release>-gateway Service").toBeDefined();
  const port = service!.spec.ports.find((p) => p.name === "http")!.port;
  return `http://${service!.metadata.name}.tidings.svc.cluster.local:${port}`;
}

/** Every TIDINGS_LOAD_* option a suite or the shared support module declares. */
function declaredOptions(): Set<string> {
  const sources = [
    join(LOAD_DIR, "tidings_load", "locust_support.py"),
    ...["fanout", "connect_storm", "reconnect_storm", "inbox_soak"].map((s) => join(LOAD_DIR, "locustfiles", `${s}.py`)),
  ];
  return new Set(sources.flatMap((f) => [...readFileSync(f, "utf8").matchAll(/env_var="(TIDINGS_LOAD_[A-Z0-9_]+)"/g)].map((m) => m[1]!)));
}

describe("load suites on Kubernetes (load/k8s)", () => {
  it("target the chart's gateway Service name and port, in the Job and in the Locust chart values", () => {
    const url = gatewayServiceUrl();
    expect(env.get("TIDINGS_URL")).toBe(url);
    expect(readFileSync(join(LOAD_DIR, "k8s", "locust-values.yaml"), "utf8")).toContain(`locust_host: ${url}\n`);
  });

  it("run headless as a Job that is not retried, with stats, HTML report and verdict written to a claim that outlives it", () => {
    job.validate();
    expect(job.spec!.backoffLimit).toBe(0);
    expect(job.spec!.ttlSecondsAfterFinished).toBeUndefined();
    const script = (container.args ?? []).join("\n");
    expect(script).toMatch(/locust -f "locustfiles\/\$SUITE" --headless/);
    for (const flag of ['--csv "$out/stats"', '--html "$out/report.html"', '--verdict-file "$out/verdict.json"'])
      expect(script).toContain(flag);
    expect(script).toMatch(/out="\/results\//);
    const results = job.spec!.template.spec!.volumes!.find((v) => v.name === "results")!;
    const claim = new PersistentVolumeClaim(docs.find((d) => d.kind === "PersistentVolumeClaim") as never);
    claim.validate();
    expect(results.persistentVolumeClaim?.claimName).toBe(claim.metadata!.name);
    expect(container.volumeMounts!.find((m) => m.name === "results")!.mountPath).toBe("/results");
    const reader = new Pod(docs.find((d) => d.kind === "Pod") as never);
    reader.validate();
    expect(reader.spec!.volumes![0]!.persistentVolumeClaim?.claimName).toBe(claim.metadata!.name);
  });

  it("set only suite options that exist", () => {
    const declared = declaredOptions();
    expect(declared.size).toBeGreaterThan(10);
    const used = [...env.keys()].filter((k) => k.startsWith("TIDINGS_LOAD_"));
    expect(used.length).toBeGreaterThan(0);
    for (const name of used) expect(declared, name).toContain(name);
  });
});

import { spawnSync } from "node:child_process";
import { accessSync, constants, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { delimiter, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments, stringify } from "yaml";

export const CHART_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "tidings");
export const REPO_DIR = join(CHART_DIR, "..", "..");

/**
 * helm built with `go install` reports Kubernetes v1.20 as its default capabilities, which the chart's
 * `kubeVersion` constraint refuses; render against a current version instead.
 */
export const KUBE_VERSION = "1.30.0";
export const RELEASE = "tidings";
export const NAMESPACE = "notify";

const INSTALL_HINT =
  "install it with `go install helm.sh/helm/v3/cmd/helm@v3.22.0` (it lands in ~/go/bin/helm), put helm on PATH, or set HELM to its path";

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

let helmPath: string | undefined;

/** The helm binary: `$HELM`, then `helm` on PATH, then ~/go/bin/helm. Throws with install instructions. */
export function findHelm(): string {
  if (helmPath !== undefined) return helmPath;
  const fromEnv = process.env["HELM"];
  if (fromEnv !== undefined && fromEnv !== "") {
    if (!isExecutable(fromEnv)) throw new Error(`HELM=${fromEnv} is not an executable file; ${INSTALL_HINT}`);
    return (helmPath = fromEnv);
  }
  const candidates = [
    ...(process.env["PATH"] ?? "")
      .split(delimiter)
      .filter((d) => d !== "")
      .map((d) => join(d, "helm")),
    join(homedir(), "go", "bin", "helm"),
  ];
  const found = candidates.find(isExecutable);
  if (found === undefined) throw new Error(`helm is required by the chart tests and was not found; ${INSTALL_HINT}`);
  return (helmPath = found);
}

export interface HelmResult {
  status: number;
  stdout: string;
  stderr: string;
}

export function helm(args: string[]): HelmResult {
  const r = spawnSync(findHelm(), args, { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
  if (r.error !== undefined) throw r.error;
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** A values case: the chart defaults (no file) or one values file. */
export interface ValuesCase {
  name: string;
  file?: string;
}

/** Defaults plus every charts/tidings/ci/*.yaml. */
export function valuesCases(): ValuesCase[] {
  const ciDir = join(CHART_DIR, "ci");
  const files = readdirSync(ciDir)
    .filter((f) => f.endsWith(".yaml"))
    .sort();
  return [{ name: "defaults" }, ...files.map((f) => ({ name: f, file: join(ciDir, f) }))];
}

const valuesArgs = (file: string | undefined): string[] => (file === undefined ? [] : ["-f", file]);

export function lint(file?: string): HelmResult {
  return helm(["lint", "--strict", CHART_DIR, "--kube-version", KUBE_VERSION, "--namespace", NAMESPACE, ...valuesArgs(file)]);
}

export function template(file?: string, extraArgs: string[] = []): HelmResult {
  return helm([
    "template",
    RELEASE,
    CHART_DIR,
    "--kube-version",
    KUBE_VERSION,
    "--namespace",
    NAMESPACE,
    ...valuesArgs(file),
    ...extraArgs,
  ]);
}

/** A rendered Kubernetes object, as parsed from YAML. */
export interface Manifest {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

export function parseManifests(yamlText: string): Manifest[] {
  const out: Manifest[] = [];
  for (const doc of parseAllDocuments(yamlText)) {
    if (doc.errors.length > 0) throw new Error(`rendered YAML does not parse: ${doc.errors.map((e) => e.message).join("; ")}`);
    const value: unknown = doc.toJS();
    if (value === null || value === undefined) continue;
    const m = value as Manifest;
    if (typeof m.apiVersion !== "string" || typeof m.kind !== "string" || typeof m.metadata?.name !== "string") {
      throw new Error(`rendered document is not a Kubernetes object: ${JSON.stringify(value).slice(0, 200)}`);
    }
    out.push(m);
  }
  return out;
}

/** Renders the chart and parses every manifest; throws with helm's message when rendering fails. */
export function render(file?: string, extraArgs: string[] = []): Manifest[] {
  const r = template(file, extraArgs);
  if (r.status !== 0) throw new Error(`helm template failed (${file ?? "defaults"}):\n${r.stderr}`);
  return parseManifests(r.stdout);
}

/** Writes `values` to a temporary YAML file and passes its path to `fn`. */
export function withValuesFile<T>(values: unknown, fn: (file: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), "tidings-chart-"));
  try {
    const file = join(dir, "values.yaml");
    writeFileSync(file, stringify(values));
    return fn(file);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * NOTES.txt as `helm install` would print it. `helm template` does not render NOTES, so this renders a
 * copy of the chart with NOTES.txt wrapped into a ConfigMap.
 */
export function renderNotes(file?: string): string {
  const dir = mkdtempSync(join(tmpdir(), "tidings-notes-"));
  try {
    const chart = join(dir, "tidings");
    cpSync(CHART_DIR, chart, { recursive: true });
    const notes = readFileSync(join(chart, "templates", "NOTES.txt"), "utf8");
    rmSync(join(chart, "templates", "NOTES.txt"));
    writeFileSync(
      join(chart, "templates", "zz-notes.yaml"),
      `{{- define "test.notes" }}${notes}{{- end }}\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: notes\ndata:\n  notes: {{ include "test.notes" . | quote }}\n`,
    );
    const r = helm([
      "template",
      RELEASE,
      chart,
      "--kube-version",
      KUBE_VERSION,
      "--namespace",
      NAMESPACE,
      ...valuesArgs(file),
      "--show-only",
      "templates/zz-notes.yaml",
    ]);
    if (r.status !== 0) throw new Error(`NOTES.txt does not render (${file ?? "defaults"}):\n${r.stderr}`);
    const [cm] = parseManifests(r.stdout);
    return (cm as Manifest & { data: { notes: string } }).data.notes;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * The chart README's Kubernetes quick start, command by command: the `helm install` line is rendered
 * with exactly its arguments, and every object the later commands name must be in that render.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CHART_DIR, helm, KUBE_VERSION, parseManifests, REPO_DIR, type Manifest } from "./helm.js";
import { validateManifest } from "./models.js";

const readme = readFileSync(join(CHART_DIR, "README.md"), "utf8");
const block = /<!-- quickstart:start -->\s*```sh\n([\s\S]*?)```\s*<!-- quickstart:end -->/.exec(readme)?.[1] ?? "";
const commands = block.split("\n").filter((l) => l.trim() !== "");

/** Splits a shell line into words, honouring single quotes (enough for the README's commands). */
function words(line: string): string[] {
  return [...line.matchAll(/'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2]!);
}

const install = words(commands[0] ?? "");
const flag = (args: string[], ...names: string[]) => {
  const i = args.findIndex((a) => names.includes(a));
  return i < 0 ? undefined : args[i + 1];
};
const namespace = flag(install, "--namespace", "-n")!;

/** `helm install <release> <chart> [flags]` as `helm template`, from the repository root. */
function renderInstall(): Manifest[] {
  const [, verb, release, chart, ...rest] = install;
  expect(verb).toBe("install");
  const args = rest.filter((a) => a !== "--create-namespace");
  const r = helm(["template", release!, join(REPO_DIR, chart!), "--kube-version", KUBE_VERSION, ...args]);
  if (r.status !== 0) throw new Error(r.stderr);
  return parseManifests(r.stdout);
}

describe("README quick start", () => {
  const manifests = renderInstall();
  const find = (kind: string, name: string) => manifests.find((m) => m.kind === kind && m.metadata.name === name);

  it("is at most five commands and starts with a helm install that needs no values", () => {
    expect(commands.length).toBeGreaterThan(0);
    expect(commands.length).toBeLessThanOrEqual(5);
    expect(install.slice(0, 2)).toEqual(["helm", "install"]);
    expect(install.some((a) => a === "-f" || a === "--values" || a.startsWith("--set"))).toBe(false);
    for (const m of manifests) validateManifest(m);
    for (const m of manifests) if (m.kind !== "Pod") expect(m.metadata.namespace).toBe(namespace);
  });

  it("waits on a StatefulSet the install creates", () => {
    const line = words(commands.find((c) => c.includes("rollout status"))!);
    expect(flag(line, "-n")).toBe(namespace);
    const [kind, name] = line.find((w) => w.startsWith("statefulset/"))!.split("/");
    expect(kind).toBe("statefulset");
    expect(find("StatefulSet", name!)).toBeDefined();
  });

  it("port-forwards to the gateway Service's port, which targets the hub and API port", () => {
    const line = words(commands.find((c) => c.includes("port-forward"))!);
    expect(flag(line, "-n")).toBe(namespace);
    const name = line.find((w) => w.startsWith("svc/"))!.slice(4);
    const [local, remote] = line
      .find((w) => /^\d+:\d+$/.test(w))!
      .split(":")
      .map(Number);
    const svc = find("Service", name) as Manifest & { spec: { ports: { port: number; targetPort: string }[] } };
    expect(svc.spec.ports.map((p) => [p.port, p.targetPort])).toEqual([[remote, "http"]]);
    const curl = commands.find((c) => c.startsWith("curl"))!;
    expect(curl).toContain(`http://localhost:${local}/api/notifications`);
    // The API is on the http port (no separate API port) and, without ingest keys, answers loopback
    // clients, which port-forwarded connections are.
    const cm = find("ConfigMap", install[2]!) as Manifest & { data: Record<string, string> };
    expect(cm.data["TIDINGS_API_PORT"]).toBeUndefined();
    const secret = find("Secret", install[2]!) as Manifest & { data: Record<string, string> };
    expect(secret.data["TIDINGS_INGEST_KEYS"]).toBeUndefined();
    const body = JSON.parse(flag(words(curl), "-d")!) as Array<{ id: string; routing: { audienceType: number } }>;
    expect(body[0]!.id).toBe("hello-1");
  });

  it("reads the generated JWT key from the Secret the install creates", () => {
    const line = words(commands.find((c) => c.includes("get secret"))!);
    expect(flag(line, "-n")).toBe(namespace);
    const name = line[line.indexOf("secret") + 1]!;
    const key = /\{\.data\.([A-Z_]+)\}/.exec(commands.find((c) => c.includes("get secret"))!)![1]!;
    const secret = find("Secret", name) as Manifest & { data: Record<string, string> };
    expect(Buffer.from(secret.data[key]!, "base64").toString()).toMatch(/^[A-Za-z0-9]{48}$/);
    // The pod reads the same Secret key.
    const sts = manifests.find((m) => m.kind === "StatefulSet") as Manifest & {
      spec: {
        template: { spec: { containers: { env: { name: string; valueFrom?: { secretKeyRef?: { name: string; key: string } } }[] }[] } };
      };
    };
    const ref = sts.spec.template.spec.containers[0]!.env.find((e) => e.name === "TIDINGS_AUTH_JWT_SECRET")!.valueFrom!.secretKeyRef!;
    expect([ref.name, ref.key]).toEqual([name, key]);
  });
});

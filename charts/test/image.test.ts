import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";

// The image the chart deploys (Dockerfile), the uWebSockets.js build it ships (uws-provenance.json) and the
// workflow that publishes both. Docker is not needed: the Dockerfile is read as text.
const REPO = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const read = (path: string) => readFileSync(join(REPO, path), "utf8");

interface Instruction {
  keyword: string;
  args: string;
}

/** Dockerfile instructions with line continuations joined; comments and heredoc bodies left out. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.trim() === "" || line.trimStart().startsWith("#")) continue;
    while (line.endsWith("\\") && i + 1 < lines.length) line = `${line.slice(0, -1)} ${lines[++i]!.trim()}`;
    const heredoc = /<<'?(\w+)'?/.exec(line);
    if (heredoc !== null) while (i + 1 < lines.length && lines[++i] !== heredoc[1]);
    const [keyword = "", ...rest] = line.trim().split(/\s+/);
    out.push({ keyword: keyword.toUpperCase(), args: rest.join(" ") });
  }
  return out;
}

/** The instructions of each stage, by stage name. */
function stages(all: Instruction[]): Map<string, Instruction[]> {
  const byName = new Map<string, Instruction[]>();
  let current: Instruction[] | undefined;
  for (const ins of all) {
    if (ins.keyword === "FROM") byName.set(/\bAS\s+(\S+)/i.exec(ins.args)?.[1] ?? String(byName.size), (current = []));
    current?.push(ins);
  }
  return byName;
}

const dockerfile = instructions(read("Dockerfile"));
const globalArg = (name: string) =>
  dockerfile.find((i) => i.keyword === "ARG" && i.args.startsWith(`${name}=`))?.args.slice(name.length + 1);
const runtime = [...stages(dockerfile).values()].at(-1)!;
const provenance = JSON.parse(read("uws-provenance.json")) as {
  package: string;
  version: string;
  integrity: string;
  upstream: { repository: string; tag: string };
  minGlibc: string;
  binaries: Record<string, string>;
};

describe("image - Dockerfile", () => {
  it("every stage runs Node.js 24 on Debian 13 (glibc >= 2.38 for uWS), pinned by digest", () => {
    expect(globalArg("NODE_IMAGE")).toMatch(/^node:24(\.\d+){0,2}-trixie-slim@sha256:[0-9a-f]{64}$/);
    const froms = dockerfile.filter((i) => i.keyword === "FROM").map((i) => i.args.split(/\s+/)[0]);
    expect(froms.length).toBeGreaterThanOrEqual(2);
    for (const from of froms) expect(from).toBe("${NODE_IMAGE}");
  });

  it("the runtime stage runs as a numeric non-root user", () => {
    const user = runtime.filter((i) => i.keyword === "USER").at(-1)?.args;
    expect(user).toMatch(/^[1-9]\d*(:[1-9]\d*)?$/);
  });

  it("the runtime stage carries the OCI labels", () => {
    const labels = runtime
      .filter((i) => i.keyword === "LABEL")
      .map((i) => i.args)
      .join(" ");
    for (const key of ["title", "description", "source", "version", "revision", "created", "base.name"]) {
      expect(labels).toContain(`org.opencontainers.image.${key}=`);
    }
  });

  it("the tidings CLI is bundled and on PATH", () => {
    const bundle = dockerfile.find((i) => i.keyword === "RUN" && i.args.includes("services/cli/scripts/bundle.mjs"))!.args;
    expect(bundle).toContain("/out/services/cli/dist/tidings.js");
    expect(read("services/cli/package.json")).toContain('"tidings": "./dist/tidings.js"');
    const wrapper = dockerfile.find((i) => i.keyword === "RUN" && i.args.includes("/build/bin/tidings"))!.args;
    expect(wrapper).toContain("/app/services/cli/dist/tidings.js");
    expect(runtime.some((i) => i.keyword === "COPY" && i.args.endsWith(" /usr/local/bin/tidings"))).toBe(true);
  });

  it("installs uWebSockets.js from the recorded provenance and refuses to build on the JS fallback", () => {
    const runs = dockerfile.filter((i) => i.keyword === "RUN").map((i) => i.args);
    expect(runs.some((r) => r.includes("node scripts/uws-fetch.mjs") && r.includes("/out/node_modules/uWebSockets.js"))).toBe(true);
    // The workspace's Node 20 build must not be copied into the image.
    const copied = globalArg("COPIED_EXTERNALS") ?? runs.find((r) => r.includes("copy-externals.mjs"));
    expect(copied).not.toContain("uWebSockets.js");
    expect(runs.some((r) => r.includes("require('uWebSockets.js')") && r.includes("native addon did not load"))).toBe(true);
  });
});

describe("image - uWebSockets.js provenance", () => {
  it("pins uWS >= v20.52 with its upstream tag, tarball integrity and a SHA-256 for each image platform's Node 24 binary", () => {
    const [major, minor] = provenance.version.split(".").map(Number);
    expect(major! > 20 || (major === 20 && minor! >= 52)).toBe(true);
    expect(provenance.upstream.tag).toBe(`v${provenance.version}`);
    expect(provenance.integrity).toMatch(/^sha512-[A-Za-z0-9+/]{86}==$/);
    expect(provenance.minGlibc).toBe("2.38");
    for (const arch of ["x64", "arm64"]) expect(provenance.binaries[`uws_linux_${arch}_137.node`]).toMatch(/^[0-9a-f]{64}$/);
  });

  it("uws-fetch refuses an unpacked package whose binaries differ from the recorded ones or are not recorded", () => {
    const dir = mkdtempSync(join(tmpdir(), "uws-verify-"));
    try {
      for (const name of Object.keys(provenance.binaries)) writeFileSync(join(dir, name), "not the recorded binary");
      writeFileSync(join(dir, "uws_linux_x64_999.node"), "unrecorded");
      const result = spawnSync(process.execPath, [join(REPO, "scripts/uws-fetch.mjs"), "--verify", dir], { encoding: "utf8" });
      expect(result.status).toBe(1);
      expect(result.stderr).toContain("uws_linux_x64_137.node: SHA-256 differs from the recorded one");
      expect(result.stderr).toContain("uws_linux_x64_999.node: not recorded");
      rmSync(join(dir, "uws_linux_arm64_137.node"));
      expect(spawnSync(process.execPath, [join(REPO, "scripts/uws-fetch.mjs"), "--verify", dir], { encoding: "utf8" }).stderr).toContain(
        "uws_linux_arm64_137.node: missing",
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("image - release workflow", () => {
  const release = parse(read(".github/workflows/release.yml")) as {
    on: { push: { tags: string[] } };
    permissions: Record<string, string>;
    jobs: Record<string, { needs?: string; steps: { uses?: string; run?: string; with?: Record<string, unknown> }[] }>;
  };
  const steps = Object.values(release.jobs).flatMap((j) => j.steps);

  it("runs on a version tag with permission to push packages", () => {
    expect(release.on.push.tags).toEqual(["v*.*.*"]);
    expect(release.permissions["packages"]).toBe("write");
  });

  it("builds and pushes the multi-arch image to GHCR with buildx", () => {
    const build = steps.find((s) => s.uses?.startsWith("docker/build-push-action@"))!;
    expect(steps.some((s) => s.uses?.startsWith("docker/setup-buildx-action@"))).toBe(true);
    expect(steps.some((s) => s.uses?.startsWith("docker/setup-qemu-action@"))).toBe(true);
    expect(build.with!["platforms"]).toBe("linux/amd64,linux/arm64");
    expect(build.with!["push"]).toBe(true);
    expect(String(build.with!["tags"])).toContain("${{ steps.meta.outputs.image }}:");
    expect(steps.find((s) => s.run?.includes("image="))!.run).toMatch(/echo "image=ghcr\.io\//);
  });

  it("packages the chart after the image and pushes it to GHCR as an OCI artifact", () => {
    const chart = release.jobs["chart"]!;
    expect(chart.needs).toBe("image");
    const script = chart.steps.map((s) => s.run ?? "").join("\n");
    expect(script).toMatch(/helm package charts\/tidings .*--app-version/);
    expect(script).toMatch(/helm push \S+\.tgz "oci:\/\/ghcr\.io\//);
  });
});

import { execFile } from "node:child_process";
import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { jwtVerify } from "jose";
import { buildClient, collect, freePort, mintToken, startNats, TEST_JWT_SECRET, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { cli, startCli, startTidings, type Tidings } from "./run.js";

const KEY = "producer-key-0123456789";
const dir = mkdtempSync(join(tmpdir(), "tidings-cli-test-"));
const keyFile = join(dir, "key");
writeFileSync(keyFile, `${KEY}\n`);
const secretEnv = { TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET };

let tidings: Tidings;
beforeAll(async () => {
  tidings = await startTidings({ ...secretEnv, TIDINGS_INGEST_KEYS: KEY });
}, 180_000);
afterAll(async () => {
  await tidings?.stop();
});

const envelope = (i: number, user: string) => ({
  id: `bulk-${user}-${i}`,
  type: "bulk",
  body: { i },
  routing: { audienceType: 4, audienceValue: user },
  metadata: { producer: "cli-test" },
});

describe("tidings --version, --help and usage errors", () => {
  it("prints the package version and a help page per command, exit 0", async () => {
    const version = await cli(["--version"]);
    expect(version).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    for (const command of ["publish", "token", "tail", "doctor"]) {
      const help = await cli([command, "--help"]);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain(`Usage: tidings ${command} [options]`);
    }
  });

  it("exits 2 on usage errors and says what is wrong", async () => {
    const unknown = await cli(["publish", "--global", "--type", "x", "--bogus"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain("unknown option '--bogus'");
    // The producer key is never an argument: it would show in the process list.
    const keyInArgv = await cli(["publish", "--global", "--type", "x", "--key", KEY]);
    expect(keyInArgv.code).toBe(2);
    const noAudience = await cli(["publish", "--type", "x"]);
    expect(noAudience.code).toBe(2);
    expect(noAudience.stderr).toContain("choose exactly one audience");
    const badBody = await cli(["publish", "--global", "--type", "x", "--body", "{nope"]);
    expect(badBody.code).toBe(2);
    expect(badBody.stderr).toContain("--body must be JSON");
    const twoTargets = await cli([
      "publish",
      "--global",
      "--type",
      "x",
      "--http",
      "http://localhost:8080",
      "--nats",
      "nats://localhost:4222",
    ]);
    expect(twoTargets.code).toBe(2);
    expect(twoTargets.stderr).toContain("choose one target");
    const badTransport = await cli(["tail", "--transport", "Pigeon"]);
    expect(badTransport.code).toBe(2);
    expect((await cli([])).code).toBe(2);
    expect((await cli(["frobnicate"])).code).toBe(2);
  });
});

describe("tidings token", () => {
  it("prints only a JWT signed with TIDINGS_AUTH_JWT_SECRET carrying the user and tenants", async () => {
    const r = await cli(["token", "--user", "u-1", "--tenant", "acme", "--tenant", "globex", "--expires", "600"], { env: secretEnv });
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+\n$/);
    const { payload } = await jwtVerify(r.stdout.trim(), new TextEncoder().encode(TEST_JWT_SECRET));
    expect(payload).toMatchObject({ sub: "u-1", tenant_id: ["acme", "globex"] });
    expect(payload.exp! - payload.iat!).toBe(600);
  });

  it("exits 2 without a secret, and when --user is missing", async () => {
    const noSecret = await cli(["token", "--user", "u-1"]);
    expect(noSecret.code).toBe(2);
    expect(noSecret.stderr).toContain("TIDINGS_AUTH_JWT_SECRET");
    expect((await cli(["token"], { env: secretEnv })).code).toBe(2);
  });
});

describe("tidings publish", () => {
  it("publishes JSON and MessagePack over HTTP with the key from TIDINGS_INGEST_KEY, and the user's client receives both", async () => {
    const client = buildClient(tidings.url, { token: await mintToken({ sub: "cli-user" }) });
    const got = collect<{ id: string; body: unknown }>(client, "invoice-ready");
    await client.start();
    try {
      const args = [
        "publish",
        "--user",
        "cli-user",
        "--type",
        "invoice-ready",
        "--body",
        '{"amount":3}',
        "--id",
        "cli-1",
        "--http",
        tidings.url,
      ];
      const r = await cli(args, { env: { TIDINGS_INGEST_KEY: KEY } });
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ accepted: 1, ids: ["cli-1"] });
      await waitFor(() => got.length === 1);
      expect(got[0]).toMatchObject({ id: "cli-1", body: { amount: 3 } });
      const packed = await cli([...args.slice(0, -3), "cli-2", "--http", tidings.url, "--msgpack"], { env: { TIDINGS_INGEST_KEY: KEY } });
      expect(packed.code).toBe(0);
      await waitFor(() => got.length === 2);
      expect(got[1]).toMatchObject({ id: "cli-2", body: { amount: 3 } });
    } finally {
      await client.stop();
    }
  });

  it("a wrong key exits 1 naming the URL and the gateway's answer", async () => {
    const wrong = join(dir, "wrong-key");
    writeFileSync(wrong, "not-the-key");
    const r = await cli(["publish", "--global", "--type", "x", "--http", tidings.url, "--key-file", wrong]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`POST ${tidings.url}/api/notifications answered 401`);
    expect(r.stderr).toContain("nothing was accepted");
  });

  it("an unreachable gateway exits 1 naming the URL and the cause", async () => {
    const port = await freePort();
    const r = await cli(["publish", "--global", "--type", "x", "--http", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot reach http://127.0.0.1:${port}/api/notifications: connect ECONNREFUSED`);
  });

  it("streams NDJSON from stdin in batches, with progress on stderr and every notification delivered", async () => {
    const total = 2500;
    const client = buildClient(tidings.url, { token: await mintToken({ sub: "bulk-user" }) });
    const got = collect<{ id: string }>(client, "bulk");
    await client.start();
    try {
      const input = Array.from({ length: total }, (_, i) => JSON.stringify(envelope(i, "bulk-user"))).join("\n");
      const r = await cli(["publish", "--file", "-", "--batch-size", "1000", "--http", tidings.url, "--key-file", keyFile], { input });
      expect(r.code).toBe(0);
      const answers = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as { accepted: number });
      expect(answers.map((a) => a.accepted)).toEqual([1000, 1000, 500]);
      expect(r.stderr).toContain("published 2500");
      await waitFor(() => got.length === total, 30_000, "every bulk notification");
      expect(new Set(got.map((n) => n.id)).size).toBe(total);
    } finally {
      await client.stop();
    }
  });

  it("a JSON array file is validated whole first: one bad envelope and nothing is sent (exit 1, index named)", async () => {
    const client = buildClient(tidings.url, { token: await mintToken({ sub: "file-user" }) });
    const got = collect<{ id: string }>(client, "bulk");
    await client.start();
    try {
      const good = Array.from({ length: 1200 }, (_, i) => envelope(i, "file-user"));
      const bad = join(dir, "bad.json");
      writeFileSync(bad, JSON.stringify([...good, { ...envelope(9999, "file-user"), type: "EventReadStatusChange" }]));
      const refused = await cli(["publish", "--file", bad, "--http", tidings.url, "--key-file", keyFile]);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toContain("invalid envelopes, nothing was sent");
      expect(refused.stderr).toContain("envelope 1200: type: must not be a reserved event name");
      expect(refused.stdout).toBe("");

      const ok = join(dir, "ok.json");
      writeFileSync(ok, JSON.stringify(good));
      const sent = await cli(["publish", "--file", ok, "--http", tidings.url, "--key-file", keyFile]);
      expect(sent.code).toBe(0);
      expect(sent.stderr).toMatch(/\[#+\] 100% 1200\/1200/);
      await waitFor(() => got.length === 1200, 30_000, "every file notification");
    } finally {
      await client.stop();
    }
  });

  it("publishes MessagePack to JetStream with Nats-Msg-Id = id, so a retried publish is a duplicate", async () => {
    const nats = await startNats({ jetstream: true });
    try {
      const args = ["publish", "--group", "ops", "--type", "alert", "--id", "same-id", "--nats", nats.url, "--msgpack"];
      const first = await cli(args);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ id: "same-id", duplicate: false });
      const second = await cli(args);
      expect(JSON.parse(second.stdout)).toMatchObject({ id: "same-id", duplicate: true });
    } finally {
      await nats.stop();
    }
  });
});

describe("tidings tail", () => {
  for (const transport of ["WebSockets", "ServerSentEvents"] as const) {
    it(`--json prints each notification a user receives, over ${transport}`, async () => {
      const user = `tail-${transport}`;
      const tail = startCli(["tail", "--url", tidings.url, "--user", user, "--transport", transport, "--json", "--count", "2"], {
        env: secretEnv,
      });
      await waitFor(
        () => tail.stderr().includes("waiting for notifications") || tail.stderr().includes("tidings:"),
        20_000,
        "tail to connect",
      );
      for (const id of ["t-1", "t-2"]) {
        const r = await cli([
          "publish",
          "--user",
          user,
          "--type",
          "Some.Type",
          "--id",
          id,
          "--body",
          '{"x":1}',
          "--http",
          tidings.url,
          "--key-file",
          keyFile,
        ]);
        expect(r.code).toBe(0);
      }
      const r = await tail.done;
      expect(r.code).toBe(0);
      const lines = r.stdout
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l) as unknown);
      expect(lines).toMatchObject([
        { id: "t-1", type: "Some.Type", audienceId: `user:${user}`, body: { x: 1 } },
        { id: "t-2", type: "Some.Type" },
      ]);
    });
  }

  it("exits 1 naming the URL when it cannot connect", async () => {
    const port = await freePort();
    const r = await cli(["tail", "--url", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot connect to http://127.0.0.1:${port}/notifications over WebSockets`);
  });
});

describe("tidings doctor", () => {
  it("passes every check on a healthy deployment, NATS stream included", async () => {
    const nats = await startNats({ jetstream: true });
    try {
      // The stream exists once a producer or a router has created it.
      const missing = await cli(["doctor", "--url", tidings.url, "--nats", nats.url, "--json"]);
      expect(missing.code).toBe(1);
      expect(JSON.parse(missing.stdout).checks).toContainEqual({
        name: "nats",
        status: "fail",
        detail: expect.stringContaining("stream TIDINGS"),
      });
      expect((await cli(["publish", "--global", "--type", "x", "--nats", nats.url])).code).toBe(0);

      const r = await cli(["doctor", "--url", tidings.url, "--nats", nats.url, "--user", "doc", "--key-file", keyFile, "--json"], {
        env: secretEnv,
      });
      expect(r.code).toBe(0);
      const checks = (JSON.parse(r.stdout) as { checks: { name: string; status: string }[] }).checks;
      expect(checks.map((c) => [c.name, c.status])).toEqual([
        ["ready", "ok"],
        ["negotiate", "ok"],
        ["websocket", "ok"],
        ["sse", "ok"],
        ["store", "ok"],
        ["nats", "ok"],
        ["clock", "ok"],
      ]);
    } finally {
      await nats.stop();
    }
  });

  it("exits 1 when the deployment is unreachable, naming the URL and the cause", async () => {
    const port = await freePort();
    const r = await cli(["doctor", "--url", `http://127.0.0.1:${port}`]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain(`FAIL  ready      cannot reach http://127.0.0.1:${port}/readyz: connect ECONNREFUSED`);
    expect(r.stderr).toContain("some checks failed");
  });
});

describe("the published bundle (dist/tidings.js)", () => {
  it("runs with Node alone, outside the workspace: --version, token, and doctor's WebSocket and SSE connections", async () => {
    const cliRoot = fileURLToPath(new URL("..", import.meta.url));
    await promisify(execFile)(process.execPath, ["scripts/bundle.mjs"], { cwd: cliRoot });
    // What `npm pack` ships: package.json and dist/, no node_modules anywhere above it.
    const pkg = mkdtempSync(join(tmpdir(), "tidings-cli-pkg-"));
    mkdirSync(join(pkg, "dist"));
    copyFileSync(join(cliRoot, "package.json"), join(pkg, "package.json"));
    copyFileSync(join(cliRoot, "dist", "tidings.js"), join(pkg, "dist", "tidings.js"));
    const bundle = join(pkg, "dist", "tidings.js");

    expect(await cli(["--version"], { bundle })).toMatchObject({ code: 0, stdout: "0.1.0\n" });
    const token = await cli(["token", "--user", "bundled"], { bundle, env: secretEnv });
    expect(token.code).toBe(0);
    const doctor = await cli(["doctor", "--url", tidings.url, "--token-file", writeTo("bundle-token", token.stdout), "--json"], { bundle });
    expect(doctor.code).toBe(0);
    const checks = (JSON.parse(doctor.stdout) as { checks: { name: string; status: string }[] }).checks;
    expect(checks.filter((c) => c.name === "websocket" || c.name === "sse").map((c) => c.status)).toEqual(["ok", "ok"]);
    expect((await cli(["publish", "--global", "--type", "x", "--http", tidings.url, "--key-file", keyFile], { bundle })).code).toBe(0);
  });
});

function writeTo(name: string, content: string): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

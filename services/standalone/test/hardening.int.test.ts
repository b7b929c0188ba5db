import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { buildClient, collect, freePort, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnTidings } from "./process.js";

function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

let seq = 0;
const persisted = (routing: Record<string, unknown>, extra: Record<string, unknown> = {}, metadata: Record<string, unknown> = {}) => ({
  id: `h-${process.pid}-${++seq}`,
  type: "note",
  body: { seq },
  routing,
  metadata: { producer: "hardening", isPersisted: true, ...metadata },
  ...extra,
});

type Problems = { error: string; problems: Array<{ index: number; path: string; message: string }> };

describe("standalone process - hostile producer input", () => {
  let tidings: { child: ChildProcessWithoutNullStreams; url: string };
  beforeAll(async () => {
    // --dev: anonymous clients, loopback producers, embedded store. The embedded store may take long to start on a loaded machine.
    const port = await freePort();
    const proc = spawnTidings({
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_METRICS_PORT: "0",
      TIDINGS_DRAIN_SECONDS: "0.5",
    });
    tidings = { child: proc.child, url: `http://127.0.0.1:${port}` };
    await waitFor(() => proc.output().includes("listening") || proc.child.exitCode !== null, 120_000, "the listening log line");
    if (proc.child.exitCode !== null) throw new Error(`tidings exited early:\n${proc.output()}`);
  }, 130_000);
  afterAll(() => {
    tidings.child.kill("SIGKILL");
  });

  const post = (body: unknown) =>
    fetch(`${tidings.url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });

  it("finding 1: a body nested 120 levels deep is refused with 400 at the door; a MessagePack client connecting afterwards leaves the process up", async () => {
    const deep = await post(persisted({ audienceType: 1 }, { body: nestedArrays(120) }));
    expect(deep.status).toBe(400);
    expect(((await deep.json()) as Problems).problems).toEqual([{ index: 0, path: "body", message: "must nest at most 64 levels deep" }]);
    const deepest = persisted({ audienceType: 1 }, { body: nestedArrays(64) });
    expect((await post(deepest)).status).toBe(202);

    const client = buildClient(tidings.url, { protocol: "messagepack" });
    const replayed = collect<{ id: string }>(client, "note");
    await client.start();
    await waitFor(() => replayed.some((n) => n.id === deepest.id), 10_000, "the replay of the deepest accepted body");
    await client.stop();
    expect(tidings.child.exitCode).toBeNull();
    expect((await fetch(`${tidings.url}/healthz`)).status).toBe(200);
  });

  it("finding 6: NUL in audienceValue, tenantId, producer or body answers 400 (not 503) and nothing is stored", async () => {
    const cases: Array<[unknown, string]> = [
      [persisted({ audienceType: 4, audienceValue: "user\u0000one" }), "routing.audienceValue"],
      [persisted({ audienceType: 3, audienceValue: "g", tenantId: "t\u0000" }), "routing.tenantId"],
      [persisted({ audienceType: 1 }, {}, { producer: "bill\u0000ing" }), "metadata.producer"],
      [persisted({ audienceType: 1 }, { body: { text: "a\u0000b" } }), "body"],
      [persisted({ audienceType: 1 }, { body: { "key\u0000": 1 } }), "body"],
    ];
    for (const [envelope, path] of cases) {
      const res = await post(envelope);
      expect(res.status, path).toBe(400);
      const body = (await res.json()) as Problems;
      expect(body.error).toBe("invalid_notification");
      expect(body.problems.map((p) => p.path)).toEqual([path]);
    }
    expect((await post(persisted({ audienceType: 4, audienceValue: "user-one" }))).status).toBe(202);
  });

  it("an unpaired surrogate in a persisted body answers 400 (not 503: the store could never take it, a retry neither)", async () => {
    for (const body of ['{"t":"\\ud800"}', '{"\\udfff":1}']) {
      const res = await fetch(`${tidings.url}/api/notifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: `{"id":"sur-${++seq}","type":"t","body":${body},"routing":{"audienceType":1},"metadata":{"producer":"p","isPersisted":true}}`,
      });
      expect(res.status, body).toBe(400);
      expect(((await res.json()) as Problems).problems.map((p) => p.path)).toEqual(["body"]);
    }
    const paired = persisted({ audienceType: 1 }, { body: { t: "\ud83d\ude00" } });
    expect((await post(paired)).status).toBe(202);
  });

  it("finding 2: GET /api/users/%E0%A4%A/notifications answers 400 and the process keeps running", async () => {
    const res = await fetch(`${tidings.url}/api/users/%E0%A4%A/notifications`);
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe("invalid_path");
    expect((await fetch(`${tidings.url}/api/users/u%20one/notifications`)).status).toBe(200);
    expect(tidings.child.exitCode).toBeNull();
  });

  it("NUL (%00) in the read API's user id, tenants or cursor, or in a MarkAs… notification id, is refused as bad input, not answered 500", async () => {
    const stored = persisted({ audienceType: 1 });
    expect((await post(stored)).status).toBe(202);
    const read = async (path: string) => {
      const res = await fetch(`${tidings.url}${path}`);
      return [res.status, ((await res.json()) as { error?: string }).error];
    };
    expect(await read("/api/users/a%00b/notifications")).toEqual([400, "invalid_path"]);
    expect(await read("/api/users/u1/notifications?tenants=t%00")).toEqual([400, "invalid_query"]);
    const cursor = Buffer.from(JSON.stringify([new Date().toISOString(), "x\u0000", "global"])).toString("base64url");
    expect(await read(`/api/users/u1/notifications?cursor=${cursor}`)).toEqual([400, "invalid_query"]);
    expect(await read("/api/users/u1/notifications")).toEqual([200, undefined]);

    const { token } = (await (await fetch(`${tidings.url}/inbox/dev-token?user=nul-reader`)).json()) as { token: string };
    const client = buildClient(tidings.url, { token });
    await client.start();
    try {
      await expect(client.invoke("MarkAsRead", "global", "a\u0000")).rejects.toThrow(
        "HubException: WrongInput: notificationId must not contain NUL characters.",
      );
      await client.invoke("MarkAsRead", "global", stored.id);
    } finally {
      await client.stop();
    }
    expect(tidings.child.exitCode).toBeNull();
  });
});

describe("process policy for unexpected errors", () => {
  it("an exception thrown from a timer and an unhandled rejection are logged and counted; the process keeps serving", async () => {
    // A real process with the guards main.ts installs, and two errors no handler catches.
    const script = `
      import { createLogger, createRegistry, installProcessGuards } from "@tidings/observability";
      installProcessGuards(createLogger({ level: "info", service: "policy-test" }));
      const registry = createRegistry({ node: "policy-test", build: { version: "dev", revision: "unknown" } });
      setTimeout(() => { throw new Error("thrown from a timer"); }, 10);
      setTimeout(() => void Promise.reject(new Error("rejected, never caught")), 20);
      setTimeout(async () => {
        console.log("STILL SERVING");
        console.log(await registry.getSingleMetricAsString("tidings_unexpected_errors_total"));
        process.exit(0);
      }, 300);
    `;
    const child = spawn(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
      cwd: fileURLToPath(new URL("..", import.meta.url)),
    });
    let output = "";
    child.stdout.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr.on("data", (d: Buffer) => (output += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
    expect(code, output).toBe(0);
    expect(output).toContain("STILL SERVING");
    expect(output).toContain('tidings_unexpected_errors_total{source="uncaught_exception"} 1');
    expect(output).toContain('tidings_unexpected_errors_total{source="unhandled_rejection"} 1');
    const logged = output.split("\n").filter((l) => l.includes("unexpected error; contained, still serving"));
    expect(logged).toHaveLength(2);
    expect(logged.join("\n")).toContain("thrown from a timer");
  }, 30_000);
});

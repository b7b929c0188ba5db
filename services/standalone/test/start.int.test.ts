import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { fileURLToPath } from "node:url";
import { buildClient, collect, freePort, waitFor } from "@tidings/testkit";
import { afterEach, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("..", import.meta.url));
const tsx = fileURLToPath(new URL("../node_modules/.bin/tsx", import.meta.url));
const children: ChildProcessWithoutNullStreams[] = [];

/** Starts the standalone process exactly as `pnpm start` does (tsx src/main.ts --dev). */
function start(env: Record<string, string>) {
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("TIDINGS_")));
  const child = spawn(tsx, ["src/main.ts", "--dev"], { cwd: root, env: { ...clean, ...env } });
  children.push(child);
  let output = "";
  child.stdout.on("data", (d: Buffer) => (output += d.toString()));
  child.stderr.on("data", (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, exited, output: () => output };
}

afterEach(() => {
  for (const c of children.splice(0)) c.kill("SIGKILL");
});

describe("standalone - pnpm start", () => {
  it("serves /notifications and /api/notifications with nothing else installed, and exits 0 on SIGTERM", async () => {
    const port = await freePort();
    const proc = start({ TIDINGS_PORT: String(port), TIDINGS_HOST: "127.0.0.1" });
    await waitFor(() => proc.output().includes("listening"), 15_000, "the listening log line");
    const url = `http://127.0.0.1:${port}`;

    const client = buildClient(url); // anonymous: --dev allows it when no auth is configured
    const got = collect<{ id: string; body: unknown }>(client, "invoice-ready");
    const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
    await client.start();
    const res = await fetch(`${url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ id: "inv-1", type: "invoice-ready", body: { amount: 3 }, routing: { audienceType: 1 }, metadata: { producer: "curl" } }),
    });
    expect(res.status).toBe(202);
    await waitFor(() => got.length === 1, 5000, "the notification");
    expect(got[0]).toMatchObject({ id: "inv-1", body: { amount: 3 } });

    proc.child.kill("SIGTERM");
    expect(await proc.exited).toBe(0);
    expect(await closed).toBeUndefined(); // Close with allowReconnect and no error: a clean end for the client
  });

  it("refuses to start on the uWebSockets.js JS fallback", async () => {
    const proc = start({ TIDINGS_PORT: String(await freePort()), UWS_USE_FALLBACK: "1" });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain("native uWebSockets.js");
  });

  it("lists every bad setting and exits 1", async () => {
    const proc = start({ TIDINGS_PORT: "80a", TIDINGS_KEEPALIVE_SECONDS: "-1", TIDINGS_PROT: "1" });
    expect(await proc.exited).toBe(1);
    const out = proc.output();
    expect(out).toContain('TIDINGS_PORT="80a"');
    expect(out).toContain("TIDINGS_KEEPALIVE_SECONDS");
    expect(out).toContain("TIDINGS_PROT");
  });
});

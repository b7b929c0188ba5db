import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";
import { buildClient, collect, mintToken, startNats, TEST_JWT_SECRET, waitFor } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { startTidings } from "./process.js";

const run = promisify(execFile);
const root = fileURLToPath(new URL("..", import.meta.url));

/** Runs `tidings <args>` (src/cli.ts) and returns its exit code and output. */
async function cli(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", "src/cli.ts", ...args], { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const e = err as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

describe("tidings publish (producer CLI)", () => {
  it("publishes over HTTP and the user's client receives it", async () => {
    const tidings = await startTidings({ TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET });
    try {
      const client = buildClient(tidings.url, { token: await mintToken({ sub: "cli-user" }) });
      const got = collect<{ id: string; body: unknown }>(client, "invoice-ready");
      await client.start();
      const r = await cli("publish", "--user", "cli-user", "--type", "invoice-ready", "--body", '{"amount":3}', "--id", "cli-1", "--http", tidings.url);
      expect(r.code).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ accepted: 1, ids: ["cli-1"] });
      await waitFor(() => got.length === 1);
      expect(got[0]).toMatchObject({ id: "cli-1", body: { amount: 3 } });
      await client.stop();
    } finally {
      await tidings.stop();
    }
  });

  it("refuses bad input before sending anything", async () => {
    const none = await cli("publish", "--type", "x", "--http", "http://127.0.0.1:9");
    expect(none.code).toBe(1);
    expect(none.stderr).toContain("choose exactly one audience");
    const reserved = await cli("publish", "--global", "--type", "EventReadStatusChange", "--http", "http://127.0.0.1:9");
    expect(reserved.code).toBe(1);
    expect(reserved.stderr).toContain("envelope 0: type");
  });

  it("publishes to JetStream with Nats-Msg-Id = id, so a retried publish is a duplicate", async () => {
    const nats = await startNats({ jetstream: true });
    try {
      const args = ["publish", "--group", "ops", "--type", "alert", "--id", "same-id", "--nats", nats.url, "--msgpack"];
      const first = await cli(...args);
      expect(first.code).toBe(0);
      expect(JSON.parse(first.stdout)).toMatchObject({ id: "same-id", duplicate: false });
      const second = await cli(...args);
      expect(JSON.parse(second.stdout)).toMatchObject({ id: "same-id", duplicate: true });
    } finally {
      await nats.stop();
    }
  });
});

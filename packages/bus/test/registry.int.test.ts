import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startNats, waitFor, type NatsServer } from "@tidings/testkit";
import { MemoryAudienceRegistry, RegistryTracker, connectNatsBus, type NatsBus } from "../src/index.js";
import { describeRegistryScenarios } from "./registry-scenarios.js";

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server.stop();
});

describeRegistryScenarios("NatsBus", async () => {
  const buses: NatsBus[] = [];
  return {
    async connect() {
      const bus = await connectNatsBus(server.url, { onError: () => undefined });
      buses.push(bus);
      return bus;
    },
    async dispose() {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});

const ANNOUNCER = fileURLToPath(new URL("./fixtures/announcer-process.ts", import.meta.url));

/** Starts a simulated gateway node as a separate OS process and waits until it has announced. */
async function startNodeProcess(nodeId: string, keys: string[], heartbeatMs: number): Promise<ChildProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ANNOUNCER], {
    env: { ...process.env, NATS_URL: server.url, NODE_ID: nodeId, KEYS: keys.join(","), HEARTBEAT_MS: String(heartbeatMs) },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${nodeId} exited with ${code}`)));
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) resolve();
    });
  });
  return child;
}

describe("registry - gateway process killed with SIGKILL", () => {
  it("the router forgets the node within three heartbeats and keeps the others", async () => {
    const heartbeatMs = 200;
    const children = [
      await startNodeProcess("proc-a", ["group:shared", "user:alice"], heartbeatMs),
      await startNodeProcess("proc-b", ["group:shared", "user:bob"], heartbeatMs),
    ];
    const bus = await connectNatsBus(server.url);
    const registry = new MemoryAudienceRegistry();
    const tracker = new RegistryTracker({ bus, registry, heartbeatIntervalMs: heartbeatMs, syncWindowMs: 300 });
    try {
      await tracker.start();
      expect([...registry.nodesFor("group:shared")].sort()).toEqual(["proc-a", "proc-b"]);
      expect([...registry.nodesFor("user:bob")]).toEqual(["proc-b"]);
      const killedAt = Date.now();
      children[1]!.kill("SIGKILL");
      await waitFor(() => !registry.liveNodes().has("proc-b"), 5000, "proc-b dropped");
      expect(Date.now() - killedAt).toBeLessThanOrEqual(heartbeatMs * 3 + heartbeatMs * 2);
      expect(registry.nodesFor("user:bob").size).toBe(0);
      expect([...registry.nodesFor("group:shared")]).toEqual(["proc-a"]);
      expect([...registry.nodesFor("global")]).toEqual(["proc-a"]);
    } finally {
      await tracker.stop();
      await bus.close();
      for (const c of children) c.kill("SIGKILL");
    }
  });
});

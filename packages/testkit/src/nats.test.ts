import { existsSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import { describe, expect, it } from "vitest";
import { startNats } from "./nats.js";

describe("startNats", () => {
  it("starts a JetStream server on a free loopback port, restarts it on the same port and store, and cleans up", async () => {
    const server = await startNats({ jetstream: true });
    try {
      expect(server.url).toBe(`nats://127.0.0.1:${server.port}`);
      const nc = await connect({ servers: server.url });
      expect(nc.info?.jetstream).toBe(true);
      await nc.close();
      const firstPid = server.pid;
      await server.restart({ signal: "SIGKILL" });
      expect(server.pid).not.toBe(firstPid);
      const again = await connect({ servers: server.url });
      await again.flush();
      await again.close();
      expect(existsSync(server.storeDir)).toBe(true);
    } finally {
      await server.stop();
      await server.stop();
    }
    expect(existsSync(server.storeDir)).toBe(false);
    await expect(connect({ servers: server.url, reconnect: false, timeout: 500 })).rejects.toThrow();
  }, 30_000);

  it("hands what the server prints after start to `output`", async () => {
    let printed = "";
    const server = await startNats({ extraArgs: ["-DV"], output: (text) => (printed += text) });
    try {
      const nc = await connect({ servers: server.url, name: "output-probe" });
      await nc.flush();
      await nc.close();
      await expect.poll(() => printed, { timeout: 5000 }).toContain("output-probe");
    } finally {
      await server.stop();
    }
  }, 30_000);
});

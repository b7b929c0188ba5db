import { buildClient, collect, freePort, RawWs, TcpBalancer, waitFor } from "@tidings/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { killGroup, spawnTidings } from "./process.js";

const RS = "\x1e";
const procs: Array<ReturnType<typeof spawnTidings>> = [];
afterAll(() => {
  // The node that was not stopped, with the node process behind its tsx CLI.
  for (const p of procs) killGroup(p.child);
});

/** A standalone node started as `pnpm start` starts it. */
async function startNode() {
  const port = await freePort();
  const proc = spawnTidings(
    { TIDINGS_PORT: String(port), TIDINGS_HOST: "127.0.0.1", TIDINGS_METRICS_PORT: "0", TIDINGS_DRAIN_SECONDS: "0.5" },
    { cli: true },
  );
  procs.push(proc);
  await waitFor(() => proc.output().includes("listening"), 90_000, "the listening log line");
  return { ...proc, port, url: `http://127.0.0.1:${port}` };
}

async function rawSocket(port: number, protocol: "json" | "messagepack"): Promise<RawWs> {
  const ws = await RawWs.open(`ws://127.0.0.1:${port}/notifications`); // anonymous: --dev without auth settings
  ws.send(`{"protocol":"${protocol}","version":1}${RS}`, false);
  await waitFor(() => ws.frames.length >= 1, 5000, "handshake answer");
  return ws;
}

describe("SIGTERM", () => {
  it(
    'W-CLOSE-02 SIGTERM → every client gets Close with allowReconnect (JSON {"type":7,"allowReconnect":true}, MessagePack 04 93 07 C0 C3); JS with automatic reconnect reconnects to the other node; JS without it → onclose(undefined)',
    { timeout: 240_000 },
    async () => {
      // One after the other: each standalone node opens its own embedded store, which is slow on a busy machine.
      const a = await startNode();
      const b = await startNode();
      const lb = await TcpBalancer.start([a.port]);
      try {
        const json = await rawSocket(a.port, "json");
        const msgpack = await rawSocket(a.port, "messagepack");
        const plain = buildClient(a.url);
        const plainClosed = new Promise<Error | undefined>((resolve) => plain.onclose(resolve));
        await plain.start();
        const roaming = buildClient(`http://127.0.0.1:${lb.port}`, { automaticReconnect: true });
        const got = collect<{ id: string }>(roaming, "note");
        const reconnected = new Promise<string | undefined>((resolve) => roaming.onreconnected(resolve));
        await roaming.start();

        lb.setBackends([b.port]); // the balancer takes the draining node out
        a.child.kill("SIGTERM");
        expect(await json.closed).toBe(1000);
        expect(json.frames.at(-1)!.data.toString()).toBe(`{"type":7,"allowReconnect":true}${RS}`);
        expect(await msgpack.closed).toBe(1000);
        expect([...msgpack.frames.at(-1)!.data]).toEqual([0x04, 0x93, 0x07, 0xc0, 0xc3]);
        expect(await plainClosed).toBeUndefined();
        expect(await reconnected).toBeDefined();
        expect(await a.exited).toBe(0);

        const res = await fetch(`${b.url}/api/notifications`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({
            id: "after-sigterm",
            type: "note",
            body: {},
            routing: { audienceType: 1 },
            metadata: { producer: "sigterm-test" },
          }),
        });
        expect(res.status).toBe(202);
        await waitFor(() => got.some((n) => n.id === "after-sigterm"), 5000, "notification from the other node");
        await roaming.stop();
      } finally {
        await lb.close();
      }
    },
  );
});

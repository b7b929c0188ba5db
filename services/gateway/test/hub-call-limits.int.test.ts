import { createServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@tidings/config";
import type { Notification } from "@tidings/contracts";
import { Registry, silentLogger } from "@tidings/observability";
import { buildClient, collect, freePort, mintToken, RawWs, sleep, TEST_JWT_SECRET, waitFor } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { createGateway, type Gateway } from "../src/index.js";
import { envelope } from "./harness.js";

const RS = "\x1e";
const THROTTLED = /^An unexpected error occurred invoking 'Subscribe' on the server\. HubException: Throttled: /;

interface Node {
  url: string;
  gateway: Gateway;
  registry: Registry;
  publish(envelopes: unknown[]): Promise<Response>;
  /** the value of one sample, e.g. `tidings_gateway_hub_calls_throttled_total{reason="rate"}` */
  metric(sample: string): Promise<number>;
  [Symbol.asyncDispose](): Promise<void>;
}

/** A real gateway on loopback with its metrics registry; ingest delivers locally (standalone wiring). */
async function startNode(env: Record<string, string> = {}): Promise<Node> {
  const port = await freePort();
  const config = loadConfig({ TIDINGS_PORT: String(port), TIDINGS_HOST: "127.0.0.1", TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, ...env });
  const registry = new Registry();
  const gateway: Gateway = createGateway({
    config,
    log: silentLogger(),
    nodeId: `rl-${port}`,
    registry,
    ingest: async (notifications: readonly Notification[], headers) => {
      for (const n of notifications) gateway.deliver(n, headers);
    },
  });
  await gateway.start();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    gateway,
    registry,
    publish: (envelopes) =>
      fetch(`${url}/api/notifications`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(envelopes),
      }),
    async metric(sample) {
      const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${sample} `));
      if (line === undefined) throw new Error(`no sample ${sample}`);
      return Number(line.slice(sample.length + 1));
    },
    [Symbol.asyncDispose]: () => gateway.stop(0),
  };
}

/** A raw JSON hub connection past its handshake. */
async function rawClient(node: Node, user: string): Promise<RawWs> {
  const ws = await RawWs.open(
    `${node.url.replace("http", "ws")}/notifications?access_token=${await mintToken({ sub: user, tenant_id: "t1" })}`,
  );
  ws.send(`{"protocol":"json","version":1}${RS}`);
  await waitFor(() => ws.frames.length >= 1, 3000, "handshake response");
  expect(ws.frames[0]!.data.toString()).toBe(`{}${RS}`);
  ws.frames.length = 0;
  return ws;
}

/** `n` Subscribe invocations with ids `${prefix}${first}…`, sent as frames of `perFrame` messages. */
function sendSubscribes(ws: RawWs, n: number, routing: object, { prefix = "", first = 0, perFrame = 500 } = {}): void {
  for (let start = 0; start < n; start += perFrame) {
    let frame = "";
    for (let i = start; i < Math.min(n, start + perFrame); i++) {
      frame += JSON.stringify({ type: 1, invocationId: `${prefix}${first + i}`, target: "Subscribe", arguments: [routing] }) + RS;
    }
    ws.send(frame, false);
  }
}

/** Every hub message received so far, parsed (pings dropped). */
function messages(ws: RawWs): Array<{ type: number; invocationId?: string; error?: string; allowReconnect?: boolean }> {
  return ws
    .text()
    .split(RS)
    .filter((m) => m !== "")
    .map((m) => JSON.parse(m) as { type: number })
    .filter((m) => m.type !== 6);
}

/** A stock client that must keep being served while another connection floods. */
async function bystander(node: Node) {
  const client = buildClient(node.url, { token: await mintToken({ sub: "bystander" }) });
  const got = collect<{ id: string }>(client, "note");
  await client.start();
  return {
    async stillServed() {
      await client.invoke("Subscribe", { audienceType: 3, audienceValue: "bystander-room" });
      const e = envelope(3, "bystander-room");
      expect((await node.publish([e])).status).toBe(202);
      await waitFor(() => got.some((n) => n.id === e.id), 3000, "bystander notification");
    },
    stop: () => client.stop(),
  };
}

describe("per-connection hub call limits", () => {
  it("finding 5 (W-BAD-09): a burst of 5,000 Subscribe calls runs at most the burst, the rest are refused with Throttled without running; the node and a bystander keep working", async () => {
    await using node = await startNode({ TIDINGS_HUB_CALL_FLOOD_LIMIT: "0" });
    const other = await bystander(node);
    const ws = await rawClient(node, "flooder");
    const started = performance.now();
    sendSubscribes(ws, 5000, { audienceType: 3, audienceValue: "flood-room" });
    await waitFor(() => messages(ws).length >= 5000, 20_000, "5,000 completions");
    const elapsedSeconds = (performance.now() - started) / 1000;
    const completions = messages(ws);
    expect(completions.every((m) => m.type === 3)).toBe(true);
    expect(new Set(completions.map((m) => m.invocationId)).size).toBe(5000);
    const ran = completions.filter((m) => m.error === undefined);
    const throttled = completions.filter((m) => m.error !== undefined);
    for (const m of throttled) expect(m.error).toMatch(THROTTLED);
    // Defaults: a bucket of 100, refilled at 20 calls/s while the burst is answered.
    expect(ran.length).toBeGreaterThanOrEqual(100);
    expect(ran.length).toBeLessThanOrEqual(100 + Math.ceil(20 * elapsedSeconds));
    expect(throttled.length).toBe(5000 - ran.length);
    expect(await node.metric('tidings_gateway_hub_invocations_total{method="Subscribe",result="ok"}')).toBe(ran.length);
    const byRate = await node.metric('tidings_gateway_hub_calls_throttled_total{reason="rate"}');
    const byQueue = await node.metric('tidings_gateway_hub_calls_throttled_total{reason="queue"}');
    expect(byRate + byQueue).toBe(throttled.length);
    // The refused connection stays open and is served again once the bucket refilled.
    await sleep(200);
    ws.frames.length = 0;
    sendSubscribes(ws, 1, { audienceType: 3, audienceValue: "flood-room" }, { prefix: "late" });
    await waitFor(() => messages(ws).length === 1, 3000, "completion after the refill");
    expect(messages(ws)[0]).toEqual({ type: 3, invocationId: "late0" });
    await other.stillServed();
    await other.stop();
    ws.close();
  });

  it("finding 5 (W-BAD-09): calls beyond TIDINGS_MAX_QUEUED_CALLS are refused at once while the queued ones wait, so 5,000 slow calls hold at most the cap", async () => {
    let requests = 0;
    const held: ServerResponse[] = [];
    const validator = createServer((req, res) => {
      requests++;
      req.resume();
      held.push(res);
    });
    await new Promise<void>((resolve) => validator.listen(0, "127.0.0.1", resolve));
    const validatorUrl = `http://127.0.0.1:${(validator.address() as AddressInfo).port}/validate`;
    try {
      await using node = await startNode({
        TIDINGS_TENANT_VALIDATION: "http",
        TIDINGS_TENANT_VALIDATION_URL: validatorUrl,
        TIDINGS_TENANT_VALIDATION_CACHE_SECONDS: "0",
        TIDINGS_HUB_CALL_BURST: "10000",
        TIDINGS_MAX_QUEUED_CALLS: "10",
        TIDINGS_HUB_CALL_FLOOD_LIMIT: "0",
      });
      const ws = await rawClient(node, "queuer");
      sendSubscribes(ws, 4999, { audienceType: 2, audienceValue: "t1" });
      // Non-blocking calls (no invocationId) over the cap are dropped unanswered, and counted.
      for (let i = 0; i < 3; i++)
        ws.send(JSON.stringify({ type: 1, target: "Subscribe", arguments: [{ audienceType: 2, audienceValue: "t1" }] }) + RS, false);
      sendSubscribes(ws, 1, { audienceType: 2, audienceValue: "t1" }, { first: 4999 }); // answered after those 3 were counted
      await waitFor(() => messages(ws).filter((m) => THROTTLED.test(m.error ?? "")).length >= 4990, 10_000, "4,990 refusals");
      // The refusals were answered while the queue was still occupied: the validator holds every request
      // (a call it never answers fails after 2 s), so the 10 queued calls cannot all have completed yet.
      const early = messages(ws);
      const refused = early.filter((m) => THROTTLED.test(m.error ?? ""));
      expect(refused.length).toBe(4990);
      expect(early.length - refused.length).toBeLessThan(10);
      expect(new Set(refused.map((m) => Number(m.invocationId)))).toEqual(new Set(Array.from({ length: 4990 }, (_, i) => i + 10)));
      expect(await node.metric('tidings_gateway_hub_calls_throttled_total{reason="queue"}')).toBe(4993);
      expect(await node.metric('tidings_gateway_hub_calls_throttled_total{reason="rate"}')).toBe(0);
      // Answering the validator lets the 10 queued calls run one after another; none of the refused ones ever reaches it.
      const answer = setInterval(() => {
        for (const res of held.splice(0)) res.writeHead(200).end();
      }, 5);
      try {
        await waitFor(() => messages(ws).length === 5000, 30_000, "the 10 queued completions");
      } finally {
        clearInterval(answer);
      }
      await sleep(100);
      expect(messages(ws).length).toBe(5000);
      expect(requests).toBe(10);
      const ran = messages(ws).filter((m) => !THROTTLED.test(m.error ?? ""));
      expect(ran.map((m) => m.invocationId)).toEqual(Array.from({ length: 10 }, (_, i) => String(i)));
      ws.close();
    } finally {
      for (const res of held.splice(0)) res.destroy();
      validator.closeAllConnections();
      await new Promise((resolve) => validator.close(resolve));
    }
  });

  it("finding 5 (W-BAD-10): a connection that keeps calling after Throttled is closed with `Too many hub calls` and told not to reconnect", async () => {
    await using node = await startNode({ TIDINGS_HUB_CALL_FLOOD_LIMIT: "50" });
    const other = await bystander(node);
    const ws = await rawClient(node, "flooder");
    sendSubscribes(ws, 5000, { audienceType: 3, audienceValue: "flood-room" });
    expect(await ws.closed).toBe(1000);
    const got = messages(ws);
    const close = got.at(-1)!;
    expect(close).toEqual({ type: 7, error: "Too many hub calls" });
    const completions = got.slice(0, -1);
    // The bucket's 100 ran (or were still queued when the connection ended), 50 were refused, the 51st refusal closed it.
    expect(completions.filter((m) => m.error !== undefined).length).toBe(50);
    expect(completions.filter((m) => m.error === undefined).length).toBeLessThanOrEqual(100);
    expect(await node.metric("tidings_gateway_hub_call_flood_disconnects_total")).toBe(1);
    expect(await node.metric('tidings_gateway_disconnects_total{reason="hub_call_flood"}')).toBe(1);
    await other.stillServed();
    await other.stop();
  });

  it("finding 5 (W-BAD-10, W-CLOSE-03): a stock client with automatic reconnect that floods gets Throttled errors, then is closed for good: no reconnect, onclose reports the server's error", async () => {
    await using node = await startNode({ TIDINGS_HUB_CALL_FLOOD_LIMIT: "200" });
    const client = buildClient(node.url, {
      token: await mintToken({ sub: "stock-flooder" }),
      protocol: "messagepack",
      automaticReconnect: true,
    });
    let reconnecting = false;
    client.onreconnecting(() => (reconnecting = true));
    const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
    await client.start();
    const calls = Array.from({ length: 2000 }, () => client.invoke("Subscribe", { audienceType: 3, audienceValue: "stock-room" }));
    const outcomes = await Promise.allSettled(calls);
    const error = await closed;
    expect(error?.message).toBe("Server returned an error on close: Too many hub calls");
    const reasons = outcomes.flatMap((o) => (o.status === "rejected" ? [String((o.reason as Error).message)] : []));
    expect(reasons.filter((r) => r.includes("HubException: Throttled")).length).toBe(200);
    expect(outcomes.filter((o) => o.status === "fulfilled").length).toBeLessThanOrEqual(100);
    await sleep(300);
    expect(reconnecting).toBe(false);
    expect(node.gateway.connectionCount).toBe(0);
  });

  for (const transport of ["ServerSentEvents", "LongPolling"] as const) {
    it(`finding 5 (W-BAD-09): calls over ${transport} POSTs are limited like WebSocket frames`, async () => {
      await using node = await startNode({ TIDINGS_HUB_CALL_BURST: "5", TIDINGS_HUB_CALL_RATE: "1", TIDINGS_HUB_CALL_FLOOD_LIMIT: "0" });
      const client = buildClient(node.url, { token: await mintToken({ sub: `http-${transport}` }), transport });
      await client.start();
      const started = performance.now();
      const outcomes = await Promise.allSettled(
        Array.from({ length: 30 }, () => client.invoke("Subscribe", { audienceType: 3, audienceValue: "http-room" })),
      );
      const elapsedSeconds = (performance.now() - started) / 1000;
      const ran = outcomes.filter((o) => o.status === "fulfilled").length;
      expect(ran).toBeGreaterThanOrEqual(5);
      expect(ran).toBeLessThanOrEqual(5 + Math.ceil(elapsedSeconds));
      for (const o of outcomes)
        if (o.status === "rejected") expect(String((o.reason as Error).message)).toContain("HubException: Throttled");
      expect(await node.metric('tidings_gateway_hub_calls_throttled_total{reason="rate"}')).toBe(30 - ran);
      await client.stop();
    });
  }

  it("the defaults leave a normal client alone: 100 Subscribes at once on connect, then 20 calls a second", async () => {
    await using node = await startNode();
    const client = buildClient(node.url, { token: await mintToken({ sub: "normal", tenant_id: "t1" }) });
    await client.start();
    await Promise.all(Array.from({ length: 98 }, (_, i) => client.invoke("Subscribe", { audienceType: 3, audienceValue: `room-${i}` })));
    await client.invoke("Subscribe", { audienceType: 2, audienceValue: "t1" });
    await client.invoke("Unsubscribe", { audienceType: 3, audienceValue: "room-0" });
    for (let second = 0; second < 3; second++) {
      await sleep(1000);
      await Promise.all(Array.from({ length: 20 }, () => client.invoke("Subscribe", { audienceType: 3, audienceValue: "room-1" })));
    }
    expect(await node.metric('tidings_gateway_hub_calls_throttled_total{reason="rate"}')).toBe(0);
    expect(await node.metric('tidings_gateway_hub_calls_throttled_total{reason="queue"}')).toBe(0);
    await client.stop();
  });
});

import type { HubConnection } from "@microsoft/signalr";
import { connectNatsBus, type NatsBus } from "@tidings/bus";
import { buildClient, collect, mintToken, startNats, TEST_JWT_SECRET, waitFor, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * A gateway process frozen (SIGSTOP) past three registry heartbeats keeps its NATS connection and its
 * clients' sockets, but the routers drop it and route its audiences to nobody meanwhile. Once it
 * runs again it must catch its connections up from the store: every persisted notification accepted
 * while it was frozen reaches its client, without a reconnect.
 */
let nats: NatsServer;
let bus: NatsBus;
const procs: TidingsProcess[] = [];
let router: TidingsProcess;
let gateway: TidingsProcess;
let client: HubConnection | undefined;

const common = () => ({
  TIDINGS_NATS_URL: nats.url,
  TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
  TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1",
  TIDINGS_LOG_LEVEL: "info",
});

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  bus = await connectNatsBus(nats.url, { name: "frozen-gateway-test" });
  const started = await Promise.all([
    startTidings({ ...common(), TIDINGS_ROLE: "store" }, "store service answering", 90_000),
    startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1" }, "router running", 90_000),
    startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-frozen" }, "listening", 90_000),
  ]);
  procs.push(...started);
  [, router, gateway] = started;
}, 120_000);

afterAll(async () => {
  if (gateway !== undefined && gateway.child.exitCode === null) gateway.child.kill("SIGCONT");
  await client?.stop().catch(() => undefined);
  await Promise.all(procs.map((p) => p.stop()));
  await bus?.close();
  await nats?.stop();
}, 60_000);

/** Publishes a persisted User notification straight to JetStream and returns its id once the stream acked it. */
async function publish(user: string, n: number): Promise<string> {
  const id = `frozen-${n}`;
  const envelope = {
    id,
    type: "note",
    body: { n },
    routing: { audienceType: 4, audienceValue: user },
    metadata: { producer: "frozen-gateway-test", isPersisted: true },
  };
  const reply = await bus.request("tidings.notify.test", new TextEncoder().encode(JSON.stringify(envelope)), {
    timeoutMs: 5000,
    headers: { "Nats-Msg-Id": id },
  });
  expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ stream: "TIDINGS" });
  return id;
}

describe("a frozen gateway (SIGSTOP past three heartbeats)", () => {
  it("catches its open connections up with the persisted notifications routed to nobody while it was frozen", async () => {
    const user = "frozen-user";
    client = buildClient(gateway.url, { token: await mintToken({ sub: user }), skipNegotiation: true });
    const notes = collect<{ id: string }>(client, "note");
    await client.start();
    const before = await publish(user, 0);
    await waitFor(() => notes.some((n) => n.id === before), 10_000, "a notification before the freeze");

    gateway.child.kill("SIGSTOP");
    await waitFor(() => router.output().includes("registry dropped a silent node"), 20_000, "the router dropping the frozen node");
    const during: string[] = [];
    for (let n = 1; n <= 20; n++) during.push(await publish(user, n));
    gateway.child.kill("SIGCONT");

    await waitFor(() => during.every((id) => notes.some((n) => n.id === id)), 20_000, "every notification accepted during the freeze");
    expect(client.state).toBe("Connected");
    expect(gateway.output()).toContain("registry heartbeats stalled");
    const after = await publish(user, 21);
    await waitFor(() => notes.some((n) => n.id === after), 10_000, "a live notification after the thaw");
  }, 60_000);
});

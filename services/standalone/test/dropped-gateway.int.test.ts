import type { HubConnection } from "@microsoft/signalr";
import { connectNatsBus, type NatsBus } from "@tidings/bus";
import { buildClient, collect, mintToken, sleep, startNats, TEST_JWT_SECRET, waitFor, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * Routers drop a gateway node they have not heard for three registry heartbeats and route its
 * audiences to nobody until they have its snapshot again, while the node's clients may still be
 * connected: the gateway process was frozen (SIGSTOP), or nats-server was down that long. Either way
 * the node must catch its open connections up from the store once every router knows it again, so
 * every persisted notification accepted meanwhile reaches its client without a reconnect.
 */
let nats: NatsServer;
let bus: NatsBus;
const procs: TidingsProcess[] = [];
let routers: TidingsProcess[];
let gateway: TidingsProcess;
const clients: HubConnection[] = [];

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
    startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-2" }, "router running", 90_000),
    startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-dropped" }, "listening", 90_000),
  ]);
  procs.push(...started);
  routers = [started[1], started[2]];
  gateway = started[3];
}, 120_000);

afterAll(async () => {
  for (const p of procs) if (p.child.exitCode === null) p.child.kill("SIGCONT");
  await Promise.all(clients.map((c) => c.stop().catch(() => undefined)));
  await Promise.all(procs.map((p) => p.stop()));
  await bus?.close();
  await nats?.stop();
}, 60_000);

let seq = 0;

const envelope = (user: string) => {
  const id = `dropped-${++seq}`;
  return {
    id,
    type: "note",
    body: { seq },
    routing: { audienceType: 4, audienceValue: user },
    metadata: { producer: "dropped-gateway-test", isPersisted: true },
  };
};

/** Publishes a persisted User notification straight to JetStream and returns its id once the stream acked it. */
async function publish(user: string): Promise<string> {
  const e = envelope(user);
  const reply = await bus.request("tidings.notify.test", new TextEncoder().encode(JSON.stringify(e)), {
    timeoutMs: 5000,
    headers: { "Nats-Msg-Id": e.id },
  });
  expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ stream: "TIDINGS" });
  return e.id;
}

/** Publishes a persisted User notification over the gateway's HTTP ingest; resolves with its id on 202, rejects otherwise. */
async function publishHttp(user: string): Promise<string> {
  const e = envelope(user);
  const res = await fetch(`${gateway.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(e),
    signal: AbortSignal.timeout(10_000),
  });
  await res.arrayBuffer();
  if (res.status !== 202) throw new Error(`HTTP ${res.status}`);
  return e.id;
}

/** A connected stock client of `user` on the gateway, with a notification delivered to prove it. */
async function connectedDevice(user: string): Promise<{ client: HubConnection; has: (id: string) => boolean }> {
  const client = buildClient(gateway.url, { token: await mintToken({ sub: user }), skipNegotiation: true });
  clients.push(client);
  const notes = collect<{ id: string }>(client, "note");
  await client.start();
  const has = (id: string) => notes.some((n) => n.id === id);
  const first = await publish(user);
  await waitFor(() => has(first), 10_000, "a notification before the fault");
  return { client, has };
}

const drops = (p: TidingsProcess) => p.output().split("registry dropped a silent node").length - 1;

/** Runs `fault` and waits until every router has logged dropping a silent node once more. */
async function routersDrop(fault: () => void): Promise<void> {
  const before = routers.map(drops);
  fault();
  await waitFor(() => routers.every((r, i) => drops(r) > before[i]!), 20_000, "both routers dropping the silent gateway");
}

describe("a gateway the routers dropped while its clients stayed connected", () => {
  it("catches its connections up after it was frozen (SIGSTOP) past three heartbeats", async () => {
    const user = "frozen-user";
    const { client, has } = await connectedDevice(user);
    await routersDrop(() => gateway.child.kill("SIGSTOP"));
    const during: string[] = [];
    for (let n = 0; n < 20; n++) during.push(await publish(user));
    gateway.child.kill("SIGCONT");

    await waitFor(() => during.every(has), 20_000, "every notification accepted during the freeze");
    expect(client.state).toBe("Connected");
    expect(gateway.output()).toContain("registry heartbeats stalled");
    const after = await publish(user);
    await waitFor(() => has(after), 10_000, "a live notification after the thaw");
  }, 60_000);

  it("catches its connections up after a nats-server outage past three heartbeats, routers reconnecting after it", async () => {
    const user = "nats-outage-user";
    const { client, has } = await connectedDevice(user);
    // HTTP ingest to the gateway itself every 50 ms, without waiting for answers, from before the
    // outage until 4 s after the routers are back.
    const accepted: string[] = [];
    const posts: Promise<void>[] = [];
    let publishing = true;
    const producer = (async () => {
      while (publishing) {
        posts.push(
          publishHttp(user).then(
            (id) => void accepted.push(id),
            () => undefined,
          ),
        ); // 503 while NATS is down
        await sleep(50);
      }
    })();
    // nats-server down for four heartbeats. The routers are held (SIGSTOP) until the gateway has
    // reconnected and then come back half a second after it, as a slower reconnect would have them:
    // they drop the node they have not heard for that long and route what the stream took meanwhile
    // to nobody until the node's next heartbeat and snapshot.
    const reconnects = () => gateway.output().split("NATS reconnect").length - 1;
    const reconnectsBefore = reconnects();
    for (const r of routers) r.child.kill("SIGSTOP");
    await nats.restart({ signal: "SIGKILL", downMs: 4000 });
    await waitFor(() => reconnects() > reconnectsBefore, 20_000, "the gateway reconnecting to nats-server");
    await sleep(500); // part of the fault: the routers lag behind
    await routersDrop(() => routers.forEach((r) => r.child.kill("SIGCONT")));
    await sleep(4000); // the traffic that matters, not a synchronisation
    publishing = false;
    await producer;
    await Promise.all(posts);
    expect(accepted.length).toBeGreaterThan(0);
    await waitFor(() => accepted.every(has), 20_000, "every notification accepted around the outage");
    expect(client.state).toBe("Connected");
  }, 60_000);
});

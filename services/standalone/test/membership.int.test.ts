import type { HubConnection } from "@microsoft/signalr";
import {
  buildClient,
  collect,
  freePort,
  mintToken,
  startNats,
  startPostgres,
  TEST_JWT_SECRET,
  waitFor,
  type NatsServer,
  type PostgresServer,
} from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * Membership before completion, cluster-wide: separate processes (nats-server with JetStream,
 * PostgreSQL, a store, two routers, gateways A and B). A client on B subscribes to a fresh audience
 * and, the moment the Subscribe completes, a notification to it is published through A's HTTP
 * ingest; every one of them must reach the client. The same for a new user's connection: the moment its
 * handshake completes, a notification to that user is published through A.
 */
let nats: NatsServer;
let pg: PostgresServer;
const procs: TidingsProcess[] = [];
let gwA: TidingsProcess;
let gwB: TidingsProcess;
let metricsB: number;
const clients: HubConnection[] = [];

const ITERATIONS = 1000;
/** Connections of new users (each one a fresh user key the routers must learn before the handshake answer). */
const CONNECTS = 300;
/** Clients subscribing side by side, each running its share of the iterations one after another. */
const CLIENTS = 10;

/** Start-up budget per process: five of them start on a shared, loaded box. */
const START_MS = 90_000;

const common = () => ({
  TIDINGS_NATS_URL: nats.url,
  TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
  TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1",
  TIDINGS_LOG_LEVEL: "warn",
});

beforeAll(async () => {
  [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
  procs.push(
    ...(await Promise.all([
      startTidings(
        { ...common(), TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url, TIDINGS_LOG_LEVEL: "info" },
        "store service answering",
        START_MS,
      ),
      startTidings(
        { ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1", TIDINGS_LOG_LEVEL: "info" },
        "router running",
        START_MS,
      ),
      startTidings(
        { ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-2", TIDINGS_LOG_LEVEL: "info" },
        "router running",
        START_MS,
      ),
    ])),
  );
  metricsB = await freePort();
  [gwA, gwB] = await Promise.all([
    startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-a", TIDINGS_LOG_LEVEL: "info" }, "listening", START_MS),
    startTidings(
      { ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-b", TIDINGS_LOG_LEVEL: "info", TIDINGS_METRICS_PORT: String(metricsB) },
      "listening",
      START_MS,
    ),
  ]);
  procs.push(gwA, gwB);
}, 5 * START_MS);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  await pg?.stop();
}, 60_000);

async function publish(via: TidingsProcess, envelope: unknown): Promise<void> {
  const res = await fetch(`${via.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify([envelope]),
  });
  expect(res.status).toBe(202);
}

async function metric(port: number, name: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(name + " "));
  return line === undefined ? Number.NaN : Number(line.split(" ")[1]);
}

describe("cluster - membership before completion", () => {
  it(`${CONNECTS} times "a new user's connection to gateway B completes → publish at once via gateway A" reaches it`, async () => {
    const run = `c-${process.pid}`;
    const missing = new Set<string>();
    const before = await metric(metricsB, "tidings_gateway_membership_ack_seconds_count");
    const worker = async (w: number) => {
      for (let i = w; i < CONNECTS; i += CLIENTS) {
        const user = `connect-${run}-${i}`;
        const c = buildClient(gwB.url, { token: await mintToken({ sub: user }), skipNegotiation: true });
        clients.push(c);
        const notes = collect<{ id: string }>(c, "note");
        await c.start();
        const id = `n-${run}-${i}`;
        missing.add(id);
        await publish(gwA, {
          id,
          type: "note",
          body: { i },
          routing: { audienceType: 4, audienceValue: user },
          metadata: { producer: "membership-test", isPersisted: false },
        });
        await waitFor(() => notes.some((n) => n.id === id), 5000, id).catch(() => undefined);
        if (notes.some((n) => n.id === id)) missing.delete(id);
        await c.stop();
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, w) => worker(w)));
    expect([...missing].slice(0, 10), `${missing.size} of ${CONNECTS} missed`).toEqual([]);
    // Every handshake of a new user waited for the routers' acknowledgement, and none ran out.
    expect(await metric(metricsB, "tidings_gateway_membership_ack_timeouts_total")).toBe(0);
    expect((await metric(metricsB, "tidings_gateway_membership_ack_seconds_count")) - before).toBeGreaterThanOrEqual(CONNECTS);
  }, 600_000);

  for (const persisted of [false, true]) {
    it(`${ITERATIONS} times "Subscribe on gateway B completes → publish at once via gateway A" reaches the client (persisted: ${persisted})`, async () => {
      const run = `${persisted ? "p" : "l"}-${process.pid}`;
      const missing = new Set<string>();
      const devices = await Promise.all(
        Array.from({ length: CLIENTS }, async (_, d) => {
          const c = buildClient(gwB.url, { token: await mintToken({ sub: `member-${run}-${d}` }), skipNegotiation: true });
          clients.push(c);
          const notes = collect<{ id: string }>(c, "note");
          await c.start();
          return { c, notes };
        }),
      );
      await Promise.all(
        devices.map(async ({ c }, d) => {
          for (let i = d; i < ITERATIONS; i += CLIENTS) {
            const group = `m-${run}-${i}`;
            await c.invoke("Subscribe", { audienceType: 3, audienceValue: group });
            const id = `n-${run}-${i}`;
            missing.add(id);
            await publish(gwA, {
              id,
              type: "note",
              body: { i },
              routing: { audienceType: 3, audienceValue: group },
              metadata: { producer: "membership-test", isPersisted: persisted },
            });
          }
        }),
      );
      const received = () => {
        for (const { notes } of devices) for (const n of notes) missing.delete(n.id);
        return missing.size;
      };
      await waitFor(() => received() === 0, 30_000, "every notification on B").catch(() => undefined);
      expect([...missing].slice(0, 10), `${missing.size} of ${ITERATIONS} missed`).toEqual([]);
      // A run that only passed because every wait ran out would prove nothing.
      expect(await metric(metricsB, "tidings_gateway_membership_ack_timeouts_total")).toBe(0);
      expect(await metric(metricsB, "tidings_gateway_membership_ack_seconds_count")).toBeGreaterThanOrEqual(ITERATIONS);
    }, 600_000);
  }
});

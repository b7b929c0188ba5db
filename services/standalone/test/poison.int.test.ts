import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import type { HubConnection } from "@microsoft/signalr";
import { connectNatsBus, type NatsBus } from "@tidings/bus";
import { subjects, type BusMessage } from "@tidings/contracts";
import {
  buildClient,
  collect,
  mintToken,
  postgresBinDir,
  sleep,
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
 * Cluster poison messages against a real PostgreSQL: a persisted notification that passes every
 * check at the door but that the database refuses (here a CHECK constraint, so the test does not
 * depend on which inputs the door validation catches) is dead-lettered with the reason after a
 * bounded number of deliveries instead of being retried forever, and the audience keeps receiving.
 */
const run = promisify(execFile);
let nats: NatsServer;
let pg: PostgresServer;
let bus: NatsBus;
const procs: TidingsProcess[] = [];
let gateway: TidingsProcess;
let client: HubConnection | null = null;

const common = () => ({ TIDINGS_NATS_URL: nats.url, TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1" });

beforeAll(async () => {
  [nats, pg] = await Promise.all([startNats({ jetstream: true }), startPostgres()]);
  bus = await connectNatsBus(nats.url, { name: "test-observer" });
  procs.push(await startTidings({ ...common(), TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url }, "store service answering"));
  // Migrations are applied once the store answers; now make the database refuse one kind of row.
  await run(join(postgresBinDir(), "psql"), [
    pg.url,
    "-v",
    "ON_ERROR_STOP=1",
    "-c",
    "ALTER TABLE notifications ADD CONSTRAINT refuse_poison CHECK (type <> 'poison')",
  ]);
  procs.push(await startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1" }, "router running"));
  gateway = await startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-a" });
  procs.push(gateway);
}, 120_000);

afterAll(async () => {
  await client?.stop();
  await Promise.all(procs.map((p) => p.stop()));
  await bus?.close();
  await nats?.stop();
  await pg?.stop();
}, 60_000);

describe("cluster poison messages (real PostgreSQL)", () => {
  it("dead-letters a persisted notification the database refuses, with the reason, after 3 deliveries, and keeps delivering that audience", async () => {
    const deadLetters: BusMessage[] = [];
    bus.subscribe(subjects.deadLetter, (m) => void deadLetters.push(m));
    client = buildClient(gateway.url, { token: await mintToken({ sub: "victim" }), skipNegotiation: true });
    const received = collect<{ id: string }>(client, "note");
    const poison = collect<{ id: string }>(client, "poison");
    await client.start();
    await sleep(500); // the registry delta reaches the router

    const envelope = (id: string, type: string) => ({
      id,
      type,
      body: { id },
      routing: { audienceType: 4, audienceValue: "victim" },
      metadata: { producer: "poison-test", isPersisted: true },
    });
    const res = await fetch(`${gateway.url}/api/notifications`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([envelope("bad-1", "poison"), envelope("good-1", "note")]),
    });
    expect(res.status).toBe(202);

    await waitFor(() => deadLetters.length === 1, 20_000, "the refused notification dead-lettered");
    const error = deadLetters[0]!.headers?.["Tidings-Error"] ?? "";
    expect(error).toMatch(/^store_refused: /);
    expect(error).toContain("refuse_poison");
    expect((JSON.parse(new TextDecoder().decode(deadLetters[0]!.data)) as { id: string }).id).toBe("bad-1");
    await waitFor(() => received.some((n) => n.id === "good-1"), 10_000, "the next notification of the audience");

    // Never retried again, never delivered, and the ingest stream is empty.
    await sleep(2500);
    expect(deadLetters).toHaveLength(1);
    expect(poison).toHaveLength(0);
    const info = await bus.connection.request(`$JS.API.CONSUMER.INFO.${subjects.stream}.tidings-router`, new Uint8Array());
    const consumer = JSON.parse(new TextDecoder().decode(info.data)) as { num_pending: number; num_ack_pending: number };
    expect(consumer.num_pending + consumer.num_ack_pending).toBe(0);
  }, 60_000);
});

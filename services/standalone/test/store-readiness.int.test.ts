/**
 * The store service's /readyz runs a real database query: losing Postgres takes the store out of
 * readiness although NATS is still connected.
 */
import { freePort, sleep, startNats, startPostgres, type NatsServer, type PostgresServer } from "@tidings/testkit";
import { afterAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

let nats: NatsServer | undefined;
let pg: PostgresServer | undefined;
let store: TidingsProcess | undefined;
afterAll(async () => {
  await store?.stop();
  await pg?.stop();
  await nats?.stop();
});

async function readyz(port: number): Promise<{ status: number; body: { message?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { message?: string } };
}

describe("store readiness", () => {
  it("turns not ready when Postgres stops answering while NATS stays up", async () => {
    nats = await startNats({ jetstream: true });
    pg = await startPostgres();
    const metricsPort = await freePort();
    store = await startTidings(
      { TIDINGS_ROLE: "store", TIDINGS_NATS_URL: nats.url, TIDINGS_DATABASE_URL: pg.url, TIDINGS_METRICS_PORT: String(metricsPort) },
      "store service answering",
    );
    expect((await readyz(metricsPort)).status).toBe(200);
    await pg.stop();
    const deadline = Date.now() + 30_000;
    let last = await readyz(metricsPort);
    while (last.status === 200 && Date.now() < deadline) {
      await sleep(250);
      last = await readyz(metricsPort);
    }
    expect(last).toEqual({ status: 503, body: { error: "not_ready", message: "store not ready" } });
  }, 90_000);
});

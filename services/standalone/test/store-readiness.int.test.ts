/**
 * The store service's /readyz runs a real database query: losing Postgres takes the store out of
 * readiness although NATS is still connected, and so does a frozen Postgres that keeps its
 * connections open but answers nothing.
 */
import { freePort, sleep, startNats, startPostgres, type NatsServer, type PostgresServer } from "@tidings/testkit";
import { afterEach, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

let nats: NatsServer | undefined;
let pg: PostgresServer | undefined;
let store: TidingsProcess | undefined;
afterEach(async () => {
  pg?.thaw();
  await store?.stop();
  await pg?.stop();
  await nats?.stop();
});

async function readyz(port: number): Promise<{ status: number; body: { message?: string } }> {
  const res = await fetch(`http://127.0.0.1:${port}/readyz`);
  return { status: res.status, body: (await res.json()) as { message?: string } };
}

/** Polls /readyz until it answers `status`, or returns the last answer after 30 s. */
async function readyzUntil(port: number, status: number): Promise<{ status: number; body: { message?: string } }> {
  const deadline = Date.now() + 30_000;
  let last = await readyz(port);
  while (last.status !== status && Date.now() < deadline) {
    await sleep(250);
    last = await readyz(port);
  }
  return last;
}

async function startStore(): Promise<number> {
  nats = await startNats({ jetstream: true });
  pg = await startPostgres();
  const metricsPort = await freePort();
  store = await startTidings(
    { TIDINGS_ROLE: "store", TIDINGS_NATS_URL: nats.url, TIDINGS_DATABASE_URL: pg.url, TIDINGS_METRICS_PORT: String(metricsPort) },
    "store service answering",
  );
  expect((await readyz(metricsPort)).status).toBe(200);
  return metricsPort;
}

describe("store readiness", () => {
  it("turns not ready when Postgres stops answering while NATS stays up", async () => {
    const metricsPort = await startStore();
    await pg!.stop();
    expect(await readyzUntil(metricsPort, 503)).toEqual({ status: 503, body: { error: "not_ready", message: "store not ready" } });
  }, 90_000);

  it("turns not ready while Postgres is frozen (SIGSTOP) and ready again once it resumes", async () => {
    const metricsPort = await startStore();
    pg!.freeze();
    expect(await readyzUntil(metricsPort, 503)).toEqual({ status: 503, body: { error: "not_ready", message: "store not ready" } });
    expect(store!.output()).toContain("no answer from the database within 4000 ms");
    pg!.thaw();
    expect((await readyzUntil(metricsPort, 200)).status).toBe(200);
  }, 90_000);
});

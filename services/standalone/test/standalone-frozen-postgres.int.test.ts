/**
 * Standalone on PostgreSQL while the server is frozen (SIGSTOP: connections open, nothing answered):
 * callers get the answers of a store outage within the forward timeout, not a request that hangs.
 */
import {
  buildClient,
  collect,
  freePort,
  mintToken,
  sleep,
  startPostgres,
  TEST_JWT_SECRET,
  waitFor,
  type PostgresServer,
} from "@tidings/testkit";
import type { HubConnection } from "@microsoft/signalr";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

let pg: PostgresServer;
let standalone: TidingsProcess;
let metricsPort: number;
let client: HubConnection | undefined;

beforeAll(async () => {
  pg = await startPostgres();
  metricsPort = await freePort();
  standalone = await startTidings({
    TIDINGS_DATABASE_URL: pg.url,
    TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
    TIDINGS_METRICS_PORT: String(metricsPort),
    TIDINGS_FORWARD_TIMEOUT_SECONDS: "1",
  });
}, 90_000);

afterAll(async () => {
  pg?.thaw();
  await client?.stop();
  await standalone?.stop();
  await pg?.stop();
});

const note = (id: string) => ({
  id,
  type: "note",
  body: {},
  routing: { audienceType: 4, audienceValue: "frozen-pg-user" },
  metadata: { producer: "frozen-pg-test", isPersisted: true },
});
const post = (id: string) =>
  fetch(`${standalone.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(note(id)),
    signal: AbortSignal.timeout(15_000),
  });

describe("standalone while PostgreSQL is frozen", () => {
  it("answers ingest and the read API with 503 and Retry-After, fails MarkAsRead, and accepts again once it resumes", async () => {
    client = buildClient(standalone.url, { token: await mintToken({ sub: "frozen-pg-user" }), skipNegotiation: true });
    const notes = collect<{ id: string }>(client, "note");
    await client.start();
    expect((await post("before")).status).toBe(202);

    pg.freeze();
    const ingest = await post("during");
    expect({ status: ingest.status, retryAfter: ingest.headers.get("retry-after"), body: await ingest.json() }).toEqual({
      status: 503,
      retryAfter: "1",
      body: { error: "unavailable", message: "Notifications cannot be accepted right now; retry with the same ids." },
    });
    const list = await fetch(`${standalone.url}/api/users/frozen-pg-user/notifications`, { signal: AbortSignal.timeout(15_000) });
    expect({ status: list.status, retryAfter: list.headers.get("retry-after"), body: await list.json() }).toEqual({
      status: 503,
      retryAfter: "1",
      body: { error: "unavailable", message: "The notification store is not answering; retry later." },
    });
    await expect(client.invoke("MarkAsRead", "user:frozen-pg-user", "before")).rejects.toThrow();

    pg.thaw();
    // The producer retries with the same id, as the 503 asks.
    await waitFor(() => notes.some((n) => n.id === "before"), 5000, "the notification from before the freeze");
    const deadline = Date.now() + 20_000;
    let retried = (await post("during")).status;
    while (retried !== 202 && Date.now() < deadline) {
      await sleep(250);
      retried = (await post("during")).status;
    }
    expect(retried).toBe(202);
    await waitFor(() => notes.some((n) => n.id === "during"), 5000, "the retried notification delivered");
  }, 60_000);
});

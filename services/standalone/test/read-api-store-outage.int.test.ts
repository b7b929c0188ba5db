/**
 * The read API while the store service does not answer (a cluster gateway whose store requests get
 * no reply): a 503 the caller can retry, not a 500 counted as an unexpected error.
 */
import { freePort, mintToken, startNats, TEST_JWT_SECRET, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

let nats: NatsServer;
let gateway: TidingsProcess;
let metricsPort: number;

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  metricsPort = await freePort();
  gateway = await startTidings(
    {
      TIDINGS_ROLE: "gateway",
      TIDINGS_NATS_URL: nats.url,
      TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
      TIDINGS_METRICS_PORT: String(metricsPort),
    },
    "listening",
    90_000,
  );
}, 120_000);

afterAll(async () => {
  await gateway?.stop();
  await nats?.stop();
});

describe("read API while no store service answers", () => {
  it("answers 503 unavailable with Retry-After on both read routes, and counts no unexpected error", async () => {
    const byUser = await fetch(`${gateway.url}/api/users/someone/notifications`);
    const mine = await fetch(`${gateway.url}/api/me/notifications`, {
      headers: { authorization: `Bearer ${await mintToken({ sub: "someone" })}` },
    });
    for (const res of [byUser, mine]) {
      expect({ status: res.status, retryAfter: res.headers.get("retry-after"), body: await res.json() }).toEqual({
        status: 503,
        retryAfter: "1",
        body: { error: "unavailable", message: "The notification store is not answering; retry later." },
      });
    }
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const unexpected = metrics.split("\n").filter((l) => l.startsWith("tidings_unexpected_errors_total") && !l.endsWith(" 0"));
    expect(unexpected).toEqual([]);
  }, 30_000);
});

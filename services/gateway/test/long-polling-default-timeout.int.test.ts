import { mintToken, sleep } from "@tidings/testkit";
import { expect, it } from "vitest";
import { envelope, startGateway } from "./harness.js";
import { JSON_HANDSHAKE, negotiate, request, RS } from "./http-transports.js";

// Kept apart from long-polling.int.test.ts: it waits out the real default poll timeout (90 s).
it(
  "W-LP-03 default TIDINGS_LONG_POLL_TIMEOUT_SECONDS: an idle poll ends after 90 s ± 2 with an empty 200 text/plain; the next poll still delivers",
  { timeout: 120_000 },
  async () => {
    await using gw = await startGateway();
    const headers = { authorization: `Bearer ${await mintToken({ sub: "lp-default" })}` };
    const { id } = await negotiate(gw.url, headers);
    const url = `${gw.url}/notifications?id=${id}`;
    const poll = () => request(`${url}&_=${Date.now()}`, { headers });
    expect((await poll()).status).toBe(200);
    expect((await request(url, { method: "POST", headers, body: JSON_HANDSHAKE })).status).toBe(200);
    expect((await poll()).body).toBe(`{}${RS}`);
    const idle = await poll();
    expect(idle.status).toBe(200);
    expect(idle.ms).toBeGreaterThanOrEqual(88_000);
    expect(idle.ms).toBeLessThanOrEqual(92_000);
    expect(idle.headers.get("content-type")).toBe("text/plain");
    expect(idle.body).toBe("");
    const next = poll();
    await sleep(200);
    const e = envelope(4, "lp-default");
    expect((await gw.publish([e])).status).toBe(202);
    const answer = await next;
    expect(answer.status).toBe(200);
    expect(answer.ms).toBeLessThan(1000);
    expect(answer.body).toContain(`"id":"${e.id}"`);
  },
);

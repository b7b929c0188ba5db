import type { HubConnection } from "@microsoft/signalr";
import { buildClient, collect, mintToken, sleep, waitFor, TcpProxy } from "@tidings/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

let gw: TestGateway;
const open: HubConnection[] = [];

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.stop()));
});

async function connect(
  claims: { sub?: string; tenant_id?: string | string[] },
  opts: Parameters<typeof buildClient>[1] = {},
  url = gw.url,
) {
  const token = await mintToken(claims);
  const connection = buildClient(url, { token, ...opts });
  open.push(connection);
  return connection;
}

async function publishOk(...envelopes: unknown[]) {
  const res = await gw.publish(envelopes);
  expect(res.status).toBe(202);
}

const matrix = [
  { protocol: "json", skipNegotiation: false, id: "W-MX-01" },
  { protocol: "json", skipNegotiation: true, id: "W-MX-02" },
  { protocol: "messagepack", skipNegotiation: false, id: "W-MX-03" },
  { protocol: "messagepack", skipNegotiation: true, id: "W-MX-04" },
] as const;

describe.each(matrix)("$id @microsoft/signalr WebSockets $protocol skipNegotiation=$skipNegotiation", ({ protocol, skipNegotiation }) => {
  it("receives Global, User, Connection, Tenant and Group notifications and never another user's", async () => {
    const alice = await connect({ sub: `alice-${protocol}-${skipNegotiation}`, tenant_id: ["acme"] }, { protocol, skipNegotiation });
    const bob = await connect({ sub: `bob-${protocol}-${skipNegotiation}` }, { protocol, skipNegotiation });
    const aliceGot = collect<{ id: string; audienceId: string; isRead: boolean; body: unknown }>(alice, "note");
    const bobGot = collect<{ id: string }>(bob, "note");
    await alice.start();
    await bob.start();
    if (skipNegotiation) expect(alice.connectionId).toBeNull();
    else expect(alice.connectionId).toMatch(/^[A-Za-z0-9_-]+$/);

    await alice.invoke("Subscribe", { audienceType: 2, audienceValue: "acme" });
    await alice.invoke("subscribe", { AudienceType: 3, AudienceValue: "team-red" });

    const g = envelope(1, undefined, { body: { price: 1.5, tags: ["x"] } });
    const u = envelope(4, `alice-${protocol}-${skipNegotiation}`);
    const t = envelope(2, "acme");
    const grp = envelope(3, "team-red");
    const sent = [g, u, t, grp];
    if (!skipNegotiation) sent.push(envelope(5, alice.connectionId!));
    await publishOk(...sent);

    await waitFor(() => aliceGot.length === sent.length, 5000, "alice's notifications");
    expect(aliceGot.map((n) => n.id).sort()).toEqual(sent.map((e) => e.id).sort());
    const global = aliceGot.find((n) => n.id === g.id)!;
    expect(global).toMatchObject({ audienceId: "global", isRead: false, body: { price: 1.5, tags: ["x"] } });
    expect(aliceGot.find((n) => n.id === u.id)!.audienceId).toBe(`user:alice-${protocol}-${skipNegotiation}`);

    // Bob shares only the Global audience with Alice.
    await waitFor(() => bobGot.length >= 1, 5000, "bob's global notification");
    await sleep(100);
    expect(bobGot.map((n) => n.id)).toEqual([g.id]);
  });

  it("refuses a tenant the token lacks with the contract's Forbidden error", async () => {
    const c = await connect({ sub: "carol", tenant_id: "acme" }, { protocol, skipNegotiation });
    await c.start();
    await expect(c.invoke("Subscribe", { audienceType: 2, audienceValue: "globex" })).rejects.toThrow(
      /^An unexpected error occurred invoking 'Subscribe' on the server\. HubException: Forbidden: /,
    );
    await expect(c.invoke("Subscribe", { audienceType: 3, audienceValue: "ops", tenantId: "globex" })).rejects.toThrow(
      /HubException: Forbidden: /,
    );
    // The connection stays usable after a refusal.
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "ops", tenantId: "acme" });
  });

  it("stops delivering an audience after Unsubscribe", async () => {
    const c = await connect({ sub: "dave" }, { protocol, skipNegotiation });
    const got = collect<{ id: string }>(c, "note");
    await c.start();
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: `room-${protocol}` });
    const first = envelope(3, `room-${protocol}`);
    await publishOk(first);
    await waitFor(() => got.length === 1);
    await c.invoke("Unsubscribe", { audienceType: 3, audienceValue: `room-${protocol}` });
    const second = envelope(3, `room-${protocol}`);
    const marker = envelope(4, "dave");
    await publishOk(second, marker);
    await waitFor(() => got.some((n) => n.id === marker.id));
    expect(got.map((n) => n.id)).toEqual([first.id, marker.id]);
  });
});

describe("hub methods - contract errors", () => {
  it("maps bad Subscribe arguments to WrongInput / NotSupported / Unauthorized", async () => {
    const c = await connect({ sub: "erin" });
    await c.start();
    await expect(c.invoke("Subscribe", { audienceType: 1, audienceValue: "global" })).rejects.toThrow(/HubException: NotSupported: /);
    await expect(c.invoke("Subscribe", { audienceType: 9, audienceValue: "x" })).rejects.toThrow(/HubException: WrongInput: /);
    await expect(c.invoke("Subscribe", { audienceType: 3, audienceValue: "" })).rejects.toThrow(/HubException: WrongInput: /);
    await expect(c.invoke("Nope")).rejects.toThrow(
      "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
    );
    await expect(c.invoke("Subscribe", {}, {})).rejects.toThrow(/^Failed to invoke 'Subscribe' due to an error on the server\.$/);
    await expect(c.invoke("Subscribe", "acme")).rejects.toThrow(/^Failed to invoke 'Subscribe' due to an error on the server\.$/);
  });

  it("refuses tenants to anonymous connections", async () => {
    await using anon = await startGateway({ TIDINGS_AUTH_ANONYMOUS: "true" });
    const c = buildClient(anon.url);
    open.push(c);
    const got = collect<{ id: string }>(c, "note");
    await c.start();
    await expect(c.invoke("Subscribe", { audienceType: 2, audienceValue: "acme" })).rejects.toThrow(/HubException: Unauthorized: /);
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "lobby" });
    const e = envelope(3, "lobby");
    expect((await anon.publish([e])).status).toBe(202);
    await waitFor(() => got.length === 1);
    await c.stop();
  });

  it("limits audiences per connection with Throttled", async () => {
    await using small = await startGateway({ TIDINGS_MAX_SUBSCRIPTIONS: "2" });
    const c = await connect({ sub: "fay" }, {}, small.url);
    await c.start();
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "a" });
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "b" });
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "b" }); // already joined: not counted twice
    await expect(c.invoke("Subscribe", { audienceType: 3, audienceValue: "c" })).rejects.toThrow(/HubException: Throttled: /);
    await c.stop();
  });
});

describe("keep-alive", () => {
  it("W-KA-02 a client with a short server timeout stays connected across keep-alive intervals", async () => {
    await using fast = await startGateway({ TIDINGS_KEEPALIVE_SECONDS: "1", TIDINGS_CLIENT_TIMEOUT_SECONDS: "3" });
    const c = await connect({ sub: "gus" }, { keepAliveIntervalMs: 1000, serverTimeoutMs: 2500 }, fast.url);
    let closedWith: Error | undefined | null = null;
    c.onclose((err) => (closedWith = err));
    await c.start();
    await sleep(4500); // > 3 keep-alive intervals and > the client's 2.5 s server timeout
    expect(closedWith).toBeNull();
    expect(c.state).toBe("Connected");
    await c.invoke("Subscribe", { audienceType: 3, audienceValue: "still-here" });
    await c.stop();
  });

  it("W-KA-04 a client detects a server that stopped sending", async () => {
    const proxy = await TcpProxy.start(gw.port);
    try {
      const c = await connect({ sub: "hal" }, { serverTimeoutMs: 1500 }, `http://127.0.0.1:${proxy.port}`);
      const closed = new Promise<Error | undefined>((resolve) => c.onclose(resolve));
      await c.start();
      proxy.freezeDownstream();
      const err = await closed;
      expect(err?.message).toBe("Server timeout elapsed without receiving a message from the server.");
    } finally {
      await proxy.close();
    }
  });
});

import type { HubConnection } from "@microsoft/signalr";
import { buildClient, buildLegacyClient, collect, mintToken, RawWs, waitFor, type HttpExchange } from "@tidings/testkit";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

let gw: TestGateway;
const stops: Array<() => Promise<void>> = [];

beforeAll(async () => {
  gw = await startGateway();
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});
afterEach(async () => {
  await Promise.all(stops.splice(0).map((stop) => stop()));
});

interface Note {
  id: string;
  audienceId: string;
}

/** The part of a stock client every matrix check uses; both the current and the 1.x client have it. */
interface AnyClient {
  start(): Promise<void>;
  stop(): Promise<void>;
  invoke(method: string, ...args: unknown[]): Promise<unknown>;
  onclose(callback: (error?: Error) => void): void;
}

/**
 * The matrix check: start; Subscribe to a group (its Completion resolves invoke); Global, User and Group
 * notifications published over HTTP arrive; stop() → onclose without error.
 */
async function exerciseClient(base: TestGateway, client: AnyClient, received: Note[], user: string): Promise<void> {
  const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
  stops.push(() => client.stop());
  await client.start();
  await expect(client.invoke("Subscribe", { audienceType: 3, audienceValue: `room-${user}` })).resolves.toBeUndefined();
  const sent = [envelope(1, undefined), envelope(4, user), envelope(3, `room-${user}`)];
  expect((await base.publish(sent)).status).toBe(202);
  await waitFor(() => sent.every((e) => received.some((n) => n.id === e.id)), 5000, "Global, User and Group notifications");
  expect(received.find((n) => n.id === sent[1]!.id)!.audienceId).toBe(`user:${user}`);
  await client.stop();
  expect(await closed).toBeUndefined();
}

const hubRequests = (exchanges: HttpExchange[], method: string) =>
  exchanges.filter((x) => x.method === method && /\/notifications\?id=/.test(x.url));

const matrix = [
  { id: "W-MX-05", transport: "ServerSentEvents", protocol: "json" },
  { id: "W-MX-06", transport: "LongPolling", protocol: "json" },
  { id: "W-MX-07", transport: "LongPolling", protocol: "messagepack" },
] as const;

describe.each(matrix)("$id @microsoft/signalr $transport $protocol", ({ transport, protocol }) => {
  it("connects, receives Global/User/Group notifications, invokes Subscribe, stops cleanly", async () => {
    const user = `mx-${transport}-${protocol}`;
    const exchanges: HttpExchange[] = [];
    const client = buildClient(gw.url, { token: await mintToken({ sub: user }), transport, protocol, exchanges });
    const received = collect<Note>(client, "note");
    await exerciseClient(gw, client, received, user);
    // Upstream went by POST; long polling polled, SSE did not (its stream is the EventSource's own request).
    expect(hubRequests(exchanges, "POST").length).toBeGreaterThanOrEqual(2);
    const polls = hubRequests(exchanges, "GET");
    if (transport === "LongPolling") {
      expect(polls.length).toBeGreaterThanOrEqual(2);
      expect(polls[0]!.body).toBe("");
      expect(hubRequests(exchanges, "DELETE").map((x) => x.status)).toEqual([202]);
    } else {
      expect(polls).toEqual([]);
    }
  });
});

describe("W-MX-08 TIDINGS_TRANSPORTS=ServerSentEvents,LongPolling", () => {
  it("negotiate lists SSE and LP only; JSON lands on SSE, MessagePack skips SSE and lands on LP; an upgrade gets 404", async () => {
    await using only = await startGateway({ TIDINGS_TRANSPORTS: "ServerSentEvents,LongPolling" });
    const token = await mintToken({ sub: "mx-08" });
    const negotiated = await fetch(`${only.url}/notifications/negotiate?negotiateVersion=1`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}` },
    });
    expect(((await negotiated.json()) as { availableTransports: unknown }).availableTransports).toEqual([
      { transport: "ServerSentEvents", transferFormats: ["Text"] },
      { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
    ]);

    const jsonExchanges: HttpExchange[] = [];
    const json = buildClient(only.url, { token, transport: "any", exchanges: jsonExchanges });
    await exerciseClient(only, json, collect<Note>(json, "note"), "mx-08");
    expect(hubRequests(jsonExchanges, "GET")).toEqual([]); // no polls: the SSE stream carried everything

    const mpExchanges: HttpExchange[] = [];
    const mp = buildClient(only.url, { token, transport: "any", protocol: "messagepack", exchanges: mpExchanges });
    await exerciseClient(only, mp, collect<Note>(mp, "note"), "mx-08");
    expect(hubRequests(mpExchanges, "GET").length).toBeGreaterThanOrEqual(2);

    const upgrade = await RawWs.refused(`${only.url.replace("http", "ws")}/notifications`, { authorization: `Bearer ${token}` });
    expect(upgrade.status).toBe(404);
    expect(upgrade.body).toBe("WebSockets transport not supported by this end point type");
  });
});

describe("@aspnet/signalr 1.x (negotiate version 0)", () => {
  it("W-V0-01 default transports: negotiate without negotiateVersion → version 0 without token; WebSockets with id=<connectionId>; notifications arrive", async () => {
    const exchanges: HttpExchange[] = [];
    const client = buildLegacyClient(gw.url, { token: await mintToken({ sub: "v0-ws" }), exchanges });
    const received = collect<Note>(client as unknown as HubConnection, "note");
    const closed = new Promise<Error | undefined>((resolve) => client.onclose(resolve));
    stops.push(() => client.stop());
    await client.start();
    expect(exchanges).toHaveLength(1);
    expect(exchanges[0]!.url).toMatch(/\/notifications\/negotiate$/);
    const negotiated = JSON.parse(exchanges[0]!.body) as Record<string, unknown>;
    expect(negotiated["negotiateVersion"]).toBe(0);
    expect(negotiated).not.toHaveProperty("connectionToken");
    await expect(client.invoke("Subscribe", { audienceType: 3, audienceValue: "v0-room" })).resolves.toBeUndefined();
    // A Connection-audience notification to the negotiated connectionId proves the socket joined that connection.
    const sent = [envelope(1, undefined), envelope(4, "v0-ws"), envelope(3, "v0-room"), envelope(5, negotiated["connectionId"] as string)];
    expect((await gw.publish(sent)).status).toBe(202);
    await waitFor(() => sent.every((e) => received.some((n) => n.id === e.id)), 5000, "notifications");
    expect(exchanges).toHaveLength(1); // everything else went over the WebSocket
    await client.stop();
    expect(await closed).toBeUndefined();
  });

  it.each(["LongPolling", "ServerSentEvents"] as const)(
    "W-V0-02 forced to %s: works with id=<connectionId>; the first poll is empty",
    async (transport) => {
      const user = `v0-${transport}`;
      const exchanges: HttpExchange[] = [];
      const client = buildLegacyClient(gw.url, { token: await mintToken({ sub: user }), transport, exchanges });
      const received = collect<Note>(client as unknown as HubConnection, "note");
      await exerciseClient(gw, client, received, user);
      const connectionId = (JSON.parse(exchanges[0]!.body) as { connectionId: string }).connectionId;
      const hub = exchanges.slice(1).filter((x) => x.url.includes("/notifications?"));
      expect(hub.length).toBeGreaterThan(0);
      expect(hub.every((x) => new URL(x.url).searchParams.get("id") === connectionId)).toBe(true);
      if (transport === "LongPolling") {
        const polls = hub.filter((x) => x.method === "GET");
        expect(polls[0]).toMatchObject({ status: 200, body: "" });
        expect(polls.length).toBeGreaterThanOrEqual(2);
      } else {
        expect(hub.filter((x) => x.method === "GET")).toEqual([]);
      }
    },
  );
});

import { launchChromium, mintToken, startSignalrPage } from "@tidings/testkit";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

let browser: Browser;
let page: Awaited<ReturnType<typeof startSignalrPage>>;
let gw: TestGateway;

beforeAll(async () => {
  page = await startSignalrPage();
  gw = await startGateway({ TIDINGS_CORS_ORIGINS: page.origin });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await gw?.[Symbol.asyncDispose]();
  await page?.close();
});

const cases = [
  { transport: "WebSockets", protocol: "json" },
  { transport: "ServerSentEvents", protocol: "json" },
  { transport: "LongPolling", protocol: "json" },
  { transport: "WebSockets", protocol: "messagepack" },
  { transport: "LongPolling", protocol: "messagepack" },
] as const;

describe.each(cases)("W-MX-09 Chromium, stock browser bundle, $transport $protocol", ({ transport, protocol }) => {
  it("connects cross-origin with accessTokenFactory, receives, invokes, stops", async () => {
    const tab = await browser.newPage();
    const requests: Array<{ url: string; authorization: string | undefined; accept: string | undefined }> = [];
    const sockets: string[] = [];
    tab.on("request", (r) => requests.push({ url: r.url(), authorization: r.headers()["authorization"], accept: r.headers()["accept"] }));
    tab.on("websocket", (ws) => sockets.push(ws.url()));
    await tab.goto(page.origin);
    const user = `browser-${transport}-${protocol}`;
    const group = `g-${transport}-${protocol}`;
    const connectionId = await tab.evaluate(
      async ({ url, token, transport, protocol, group }) => {
        // Page code: the browser bundle's `signalR` global is untyped here.
        /* eslint-disable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call */
        const w = globalThis as unknown as { signalR: any; got: unknown[]; conn: any };
        const signalR = w.signalR;
        let builder = new signalR.HubConnectionBuilder().withUrl(`${url}/notifications`, {
          transport: signalR.HttpTransportType[transport],
          accessTokenFactory: () => token,
        });
        if (protocol === "messagepack") builder = builder.withHubProtocol(new signalR.protocols.msgpack.MessagePackHubProtocol());
        const conn = builder.build();
        w.got = [];
        conn.on("note", (n: unknown) => w.got.push(n));
        await conn.start();
        await conn.invoke("Subscribe", { audienceType: 3, audienceValue: group });
        w.conn = conn;
        return conn.connectionId as string;
        /* eslint-enable @typescript-eslint/no-explicit-any, @typescript-eslint/no-unsafe-call */
      },
      { url: gw.url, token: await mintToken({ sub: user }), transport, protocol, group },
    );
    expect(connectionId).toMatch(/^[A-Za-z0-9_-]+$/);

    const sent = [envelope(3, group, { body: { text: "héllo ✓" } }), envelope(4, user), envelope(5, connectionId)];
    expect((await gw.publish(sent)).status).toBe(202);
    await tab.waitForFunction((n) => (globalThis as unknown as { got: unknown[] }).got.length === n, sent.length, { timeout: 5000 });
    const got = await tab.evaluate(() => (globalThis as unknown as { got: Array<{ id: string; body: unknown }> }).got);
    expect(got.map((n) => n.id).sort()).toEqual(sent.map((e) => e.id).sort());
    expect(got.find((n) => n.id === sent[0]!.id)!.body).toEqual({ text: "héllo ✓" });
    await tab.evaluate(async () => (globalThis as unknown as { conn: { stop(): Promise<void> } }).conn.stop());

    // Browsers cannot set headers on WebSocket and EventSource requests: those carry access_token,
    // every other request an Authorization header.
    const negotiate = requests.find((r) => r.url.includes("/notifications/negotiate"));
    expect(negotiate?.authorization).toMatch(/^Bearer /);
    if (transport === "WebSockets") expect(sockets.some((u) => u.includes("access_token="))).toBe(true);
    if (transport === "ServerSentEvents")
      expect(requests.some((r) => r.accept?.includes("text/event-stream") === true && r.url.includes("access_token="))).toBe(true);
    if (transport === "LongPolling") {
      const polls = requests.filter((r) => r.url.includes("/notifications?id="));
      expect(polls.length).toBeGreaterThan(0);
      expect(polls.every((r) => r.authorization?.startsWith("Bearer ") === true)).toBe(true);
    }
    await tab.close();
  });
});

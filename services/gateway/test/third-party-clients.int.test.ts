import { randomUUID } from "node:crypto";
import { buildLegacyClient, LegacyLogLevel, mintToken, RawWs, sleep, waitFor, type LegacyLogger } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { envelope, startGateway } from "./harness.js";
import { RS } from "./http-transports.js";

/** Keeps every warning and error the client logs, and any "unknown message type" note (logged as information). */
class ProblemLogger implements LegacyLogger {
  readonly problems: string[] = [];
  log(level: LegacyLogLevel, message: string): void {
    if (level >= LegacyLogLevel.Warning || /unknown message type/i.test(message))
      this.problems.push(`${LegacyLogLevel[level]}: ${message}`);
  }
}

describe("old and third-party clients", () => {
  it("W-V0-03 @aspnet/signalr 1.x + signalr-protocol-msgpack 1.x over WebSockets: notifications arrive, the client never sees a message it does not know, and it stays up past the client timeout although it never pings", async () => {
    // Keep-alive 1 s and client timeout 2 s: 5 s of silence from the client is well past the timeout.
    await using gw = await startGateway({ TIDINGS_KEEPALIVE_SECONDS: "1", TIDINGS_CLIENT_TIMEOUT_SECONDS: "2" });
    const logger = new ProblemLogger();
    const client = buildLegacyClient(gw.url, {
      token: await mintToken({ sub: "v0-mp" }),
      protocol: "messagepack",
      transport: "WebSockets",
      logger,
    });
    const received: Array<{ id: string }> = [];
    client.on("note", (n: { id: string }) => void received.push(n));
    let closedWith: Error | undefined | null = null;
    client.onclose((e) => (closedWith = e));
    await client.start();
    await expect(client.invoke("Subscribe", { audienceType: 3, audienceValue: "v0-mp-room" })).resolves.toBeUndefined();
    await expect(client.invoke("Subscribe", { audienceType: 9 })).rejects.toThrow(); // an error Completion is known too
    const first = [envelope(1, undefined), envelope(4, "v0-mp"), envelope(3, "v0-mp-room")];
    expect((await gw.publish(first)).status).toBe(202);
    await waitFor(() => first.every((e) => received.some((n) => n.id === e.id)), 5000, "notifications");
    await sleep(5000);
    expect(closedWith).toBeNull();
    expect(gw.gateway.connectionCount).toBe(1);
    const later = envelope(4, "v0-mp");
    expect((await gw.publish([later])).status).toBe(202);
    await waitFor(() => received.some((n) => n.id === later.id), 3000, "notification after 5 s of client silence");
    expect(logger.problems).toEqual([]);
    await client.stop();
    expect(closedWith).toBeUndefined();
  });

  it("W-V0-04 raw third-party shapes: version-0 negotiate, upgrade to /notifications? without id, handshake with spaces, Invocation with headers {} and a UUID id, Close with error null and allow_reconnect null → all accepted", async () => {
    await using gw = await startGateway();
    const auth = { authorization: `Bearer ${await mintToken({ sub: "v0-raw" })}` };
    const negotiated = await fetch(`${gw.url}/notifications/negotiate`, { method: "POST", headers: auth });
    expect(negotiated.status).toBe(200);
    expect(((await negotiated.json()) as { negotiateVersion: number }).negotiateVersion).toBe(0);
    const ws = await RawWs.open(`${gw.url.replace("http", "ws")}/notifications?`, auth);
    ws.send(`{"protocol": "json", "version": 1}${RS}`);
    await waitFor(() => ws.frames.length === 1, 3000, "handshake answer");
    expect(ws.frames[0]!.data.toString()).toBe(`{}${RS}`);
    const id = randomUUID();
    ws.send(
      `{"type": 1, "headers": {}, "invocationId": "${id}", "target": "Subscribe", "arguments": [{"audienceType": 3, "audienceValue": "v0-raw-room"}]}${RS}`,
    );
    await waitFor(() => ws.frames.length === 2, 3000, "Completion");
    expect(ws.frames[1]!.data.toString()).toBe(`{"type":3,"invocationId":"${id}"}${RS}`);
    const e = envelope(3, "v0-raw-room");
    expect((await gw.publish([e])).status).toBe(202);
    await waitFor(() => ws.frames.some((f) => f.data.toString().includes(`"id":"${e.id}"`)), 3000, "group notification");
    ws.send(`{"type": 7, "headers": {}, "error": null, "allow_reconnect": null}${RS}`);
    expect(await ws.closed).toBe(1000);
    expect(ws.frames.at(-1)!.data.toString()).toBe(`{"type":7}${RS}`);
  });
});

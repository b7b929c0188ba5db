import { spawn } from "node:child_process";
import { connect as tcpConnect, type Socket } from "node:net";
import { createInterface } from "node:readline";
import { mintToken, sleep, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";
import { JSON_HANDSHAKE, negotiate, request, RS, SseStream } from "./http-transports.js";

let gw: TestGateway;
let token: string;
const auth = () => ({ authorization: `Bearer ${token}` });

beforeAll(async () => {
  gw = await startGateway();
  token = await mintToken({ sub: "sse-user" });
});
afterAll(async () => {
  await gw[Symbol.asyncDispose]();
});

const hubUrl = (base: string, id: string) => `${base}/notifications?id=${id}`;
const post = (url: string, body: string | Uint8Array, headers: Record<string, string> = auth()) =>
  request(url, { method: "POST", headers, body });

/** Negotiate, open the SSE stream, POST the JSON handshake and wait for its `{}␞` event. */
async function handshaken(base = gw.url): Promise<{ sse: SseStream; url: string }> {
  const { id } = await negotiate(base, auth());
  const url = hubUrl(base, id);
  const sse = await SseStream.open(url, auth());
  expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
  await waitFor(() => sse.events().length >= 1, 3000, "handshake event");
  expect(sse.events()[0]).toBe(`{}${RS}`);
  return { sse, url };
}

/**
 * A raw SSE GET whose chunked body is decoded strictly, as urllib3 or Go's net/http do: a chunk's data
 * counts only once the CRLF that closes it arrived.
 */
class StrictChunkedSse {
  head = "";
  /** body text of the complete chunks */
  text = "";
  #raw = Buffer.alloc(0);
  private constructor(readonly socket: Socket) {
    socket.on("data", (data: Buffer) => {
      this.#raw = Buffer.concat([this.#raw, data]);
      this.#parse();
    });
  }

  static async open(port: number, id: string): Promise<StrictChunkedSse> {
    const socket = tcpConnect(port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.write(`GET /notifications?id=${id} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    return new StrictChunkedSse(socket);
  }

  #parse(): void {
    if (this.head === "") {
      const end = this.#raw.indexOf("\r\n\r\n");
      if (end < 0) return;
      this.head = this.#raw.subarray(0, end).toString();
      this.#raw = this.#raw.subarray(end + 4);
    }
    for (;;) {
      const lineEnd = this.#raw.indexOf("\r\n");
      if (lineEnd < 0) return;
      const size = Number.parseInt(this.#raw.subarray(0, lineEnd).toString(), 16);
      const dataEnd = lineEnd + 2 + size;
      if (this.#raw.byteLength < dataEnd + 2) return; // the closing CRLF has not arrived yet
      expect(this.#raw.subarray(dataEnd, dataEnd + 2).toString()).toBe("\r\n");
      this.text += this.#raw.subarray(lineEnd + 2, dataEnd).toString();
      this.#raw = this.#raw.subarray(dataEnd + 2);
    }
  }
}

describe("Server-Sent Events", () => {
  it("W-SSE-01 200 with the docs/protocol.md §3.3 headers, `:\\r\\n` at once, then the handshake answer as `data: {}␞` event", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    const sse = await SseStream.open(url, auth());
    expect(sse.status).toBe(200);
    const h = sse.response.headers;
    expect(h.get("content-type")).toBe("text/event-stream");
    expect(h.get("cache-control")).toBe("no-cache,no-store");
    expect(h.get("pragma")).toBe("no-cache");
    expect(h.get("content-encoding")).toBe("identity");
    expect(h.get("x-accel-buffering")).toBe("no");
    await waitFor(() => sse.text.length > 0, 2000, "opening comment");
    await sleep(50);
    expect(sse.text).toBe(":\r\n");
    const answer = await post(url, JSON_HANDSHAKE);
    expect(answer.status).toBe(200);
    expect(answer.body).toBe("");
    // Every event is followed by the same empty comment, which completes the event's HTTP chunk at once.
    await waitFor(() => sse.text.length >= `:\r\ndata: {}${RS}\r\n\r\n:\r\n`.length, 2000, "handshake event");
    expect(sse.text).toBe(`:\r\ndata: {}${RS}\r\n\r\n:\r\n`);
    sse.close();
  });

  it("W-SSE-02 no id → 400 Connection ID required; a second SSE GET while one is open → 409", async () => {
    const noId = await request(`${gw.url}/notifications`, { headers: { accept: "text/event-stream", ...auth() } });
    expect(noId.status).toBe(400);
    expect(noId.body).toBe("Connection ID required");
    const { id } = await negotiate(gw.url, auth());
    const first = await SseStream.open(hubUrl(gw.url, id), auth());
    const second = await request(hubUrl(gw.url, id), { headers: { accept: "text/event-stream", ...auth() } });
    expect(second.status).toBe(409);
    expect(second.body).toBe("");
    // The first stream is unaffected.
    expect((await post(hubUrl(gw.url, id), JSON_HANDSHAKE)).status).toBe(200);
    await waitFor(() => first.events().length === 1);
    first.close();
  });

  it("W-SSE-03 a messagepack handshake → the Binary-format handshake error event, then the stream ends", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    const sse = await SseStream.open(url, auth());
    expect((await post(url, `{"protocol":"messagepack","version":1}${RS}`)).status).toBe(200);
    await sse.ended;
    expect(sse.text).toBe(
      `:\r\ndata: {"error":"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}${RS}\r\n\r\n:\r\n`,
    );
  });

  it("W-SSE-04 (TIDINGS_KEEPALIVE_SECONDS=1, TIDINGS_CLIENT_TIMEOUT_SECONDS=2) an idle stream gets a Ping event about every second; after the hub ends the connection the response completes and a new SSE GET → 404", async () => {
    await using fast = await startGateway({ TIDINGS_KEEPALIVE_SECONDS: "1", TIDINGS_CLIENT_TIMEOUT_SECONDS: "2" });
    const { id } = await negotiate(fast.url, auth());
    const url = hubUrl(fast.url, id);
    const sse = await SseStream.open(url, auth());
    expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
    const pingTimes: number[] = [];
    const started = Date.now();
    while (pingTimes.length < 3 && Date.now() - started < 8000) {
      const pings = sse.events().filter((e) => e === `{"type":6}${RS}`).length;
      if (pings > pingTimes.length) pingTimes.push(Date.now());
      await sleep(20);
    }
    expect(pingTimes).toHaveLength(3);
    // The keep-alive is checked once a second, so a Ping comes 1 to 2 s after the last message sent.
    for (let i = 1; i < pingTimes.length; i++) expect(pingTimes[i]! - pingTimes[i - 1]!).toBeGreaterThan(600);
    for (let i = 1; i < pingTimes.length; i++) expect(pingTimes[i]! - pingTimes[i - 1]!).toBeLessThan(2600);
    expect(sse.events().every((e) => e === `{}${RS}` || e === `{"type":6}${RS}`)).toBe(true);
    // One client Ping starts the client timeout; silence then makes the hub end the connection.
    expect((await post(url, `{"type":6}${RS}`)).status).toBe(200);
    await sse.ended;
    expect(sse.events().at(-1)).toBe(`{"type":7,"error":"Client timeout","allowReconnect":true}${RS}`);
    const again = await request(url, { headers: { accept: "text/event-stream", ...auth() } });
    expect(again.status).toBe(404);
    expect(again.body).toBe("No Connection with that ID");
  });

  it("W-CLOSE-04 a protocol error closes over SSE: the Close event, then the stream ends", async () => {
    const { sse, url } = await handshaken();
    expect((await post(url, `hello${RS}`)).status).toBe(200);
    await sse.ended;
    expect(sse.events().at(-1)).toBe(`{"type":7,"error":"Invalid JSON","allowReconnect":true}${RS}`);
    expect((await post(url, `{"type":6}${RS}`)).status).toBe(404);
  });

  it("W-BAD-05 a 2 MiB POST → 413 with a one-line reason, then Close `Message too large` on the SSE downstream", async () => {
    const { sse, url } = await handshaken();
    const big = await post(url, "x".repeat(2 * 1024 * 1024));
    expect(big.status).toBe(413);
    expect(big.headers.get("content-type")).toBe("text/plain");
    expect(big.body).toMatch(/^[^\n]+$/);
    await sse.ended;
    expect(sse.events().at(-1)).toBe(`{"type":7,"error":"Message too large","allowReconnect":true}${RS}`);
  });

  it("docs/protocol.md §3.5 a POST before the stream exists is buffered and read once the stream starts", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
    const sse = await SseStream.open(url, auth());
    await waitFor(() => sse.events().length === 1, 3000, "handshake event");
    expect(sse.events()).toEqual([`{}${RS}`]);
    sse.close();
  });

  it("W-BAD-08 (TIDINGS_MAX_BACKPRESSURE_BYTES=262144) an SSE reader that stops reading is closed as a slow consumer; another stream keeps receiving", async () => {
    await using small = await startGateway({ TIDINGS_MAX_BACKPRESSURE_BYTES: "262144" });
    const stalledId = (await negotiate(small.url, auth())).id;
    // A raw socket that sends the SSE GET and then never reads: the kernel buffers fill, then uWS's, then ours.
    const socket = tcpConnect(small.port, "127.0.0.1");
    await new Promise<void>((resolve) => socket.once("connect", resolve));
    socket.pause();
    socket.write(
      `GET /notifications?id=${stalledId} HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\nAuthorization: Bearer ${token}\r\n\r\n`,
    );
    expect((await post(hubUrl(small.url, stalledId), JSON_HANDSHAKE)).status).toBe(200); // buffered if it beats the GET
    const { sse: healthy } = await handshaken(small.url);
    expect(small.gateway.connectionCount).toBe(2);

    const body = "y".repeat(60_000);
    let sent = 0;
    for (let batch = 0; batch < 6 && small.gateway.connectionCount === 2; batch++) {
      const res = await small.publish(Array.from({ length: 40 }, () => envelope(4, "sse-user", { body })));
      expect(res.status).toBe(202);
      sent += 40;
      // The healthy reader keeps up with everything published so far.
      await waitFor(() => healthy.events().length >= 1 + sent, 10_000, "healthy stream keeps receiving");
    }
    await waitFor(() => small.gateway.connectionCount === 1, 5000, "slow consumer closed");
    const late = await post(hubUrl(small.url, stalledId), `{"type":6}${RS}`);
    expect(late.status).toBe(404);
    expect(late.body).toBe("");
    healthy.close();
    socket.destroy();
  });

  it("SSE events reach a strict chunk reader at once: each event's HTTP chunk is complete without waiting for the next write", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    const sse = await StrictChunkedSse.open(gw.port, id);
    try {
      await waitFor(() => sse.head !== "", 2000, "response head");
      expect(sse.head.toLowerCase()).toContain("transfer-encoding: chunked");
      expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
      // Nothing else is written for the next 15 s (keep-alive), so the handshake answer must arrive on its own.
      await waitFor(() => sse.text.includes(`data: {}${RS}\r\n\r\n`), 2000, "handshake event as a complete chunk");
      const note = envelope(4, "sse-user", { body: { strict: true } });
      expect((await gw.publish([note])).status).toBe(202);
      await waitFor(() => sse.text.includes(`"id":"${note.id}"`), 2000, "notification event as a complete chunk");
      expect(sse.text.slice(sse.text.indexOf(`"id":"${note.id}"`))).toContain(`${RS}\r\n\r\n`);
    } finally {
      sse.socket.destroy();
    }
  });

  it("SSE with a Python urllib3 reader: the handshake answer and a notification each arrive before any later event", async () => {
    const { id } = await negotiate(gw.url, auth());
    const url = hubUrl(gw.url, id);
    const reader = spawn("python3", [new URL("./fixtures/sse_urllib3_reader.py", import.meta.url).pathname, url, token], {
      stdio: ["ignore", "pipe", "inherit"],
    });
    const lines: unknown[] = [];
    createInterface({ input: reader.stdout }).on("line", (line) => lines.push(JSON.parse(line)));
    try {
      await waitFor(() => lines.length >= 1, 10_000, "urllib3 response");
      expect(lines[0]).toEqual({ status: 200, chunked: true });
      expect((await post(url, JSON_HANDSHAKE)).status).toBe(200);
      await waitFor(() => lines.length >= 2, 3000, "handshake event through urllib3");
      expect(lines[1]).toBe(`{}${RS}`);
      const note = envelope(4, "sse-user", { body: { urllib3: true } });
      expect((await gw.publish([note])).status).toBe(202);
      await waitFor(() => lines.length >= 3, 3000, "notification event through urllib3");
      expect(lines[2]).toContain(`"id":"${note.id}"`);
    } finally {
      reader.kill();
    }
  });
});

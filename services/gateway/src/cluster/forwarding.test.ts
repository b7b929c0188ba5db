import { MemoryBus } from "@tidings/bus";
import { mintId, subjects } from "@tidings/contracts";
import { silentLogger } from "@tidings/observability";
import { afterEach, describe, expect, it } from "vitest";
import type { HubRequest, HubRequestHandler } from "../http/hub-request.js";
import { BodyTooLargeError, type HeaderList, type ResponseSink } from "../http/respond.js";
import { decodeFrame, encodeFrame } from "./forward-codec.js";
import { Forwarder, type ClientSocket, type ForwarderOptions, type RelayedRequest } from "./forwarding.js";
import type { SocketLink } from "../transport/relayed-ws-transport.js";

/** A client's response as the relaying node writes it. */
class FakeSink implements ResponseSink {
  aborted = false;
  readonly events: Array<{ call: string; status?: number; headers?: HeaderList; body?: string }> = [];
  readonly #abortListeners: Array<() => void> = [];
  onAbort(listener: () => void): void {
    this.#abortListeners.push(listener);
  }
  /** the client goes away */
  abort(): void {
    this.aborted = true;
    for (const l of this.#abortListeners.splice(0)) l();
  }
  send(status: number, body: string | Uint8Array = "", headers: HeaderList = []): void {
    this.aborted = true;
    this.events.push({ call: "send", status, headers, body: Buffer.from(body).toString() });
  }
  text(status: number, body = ""): void {
    this.send(status, body, body === "" ? [] : [["Content-Type", "text/plain"]]);
  }
  unauthorized(): void {
    this.send(401);
  }
  startStream(status: number, headers: HeaderList, flush: string): void {
    this.events.push({ call: "startStream", status, headers, body: flush });
  }
  write(bytes: Uint8Array): boolean {
    this.events.push({ call: "write", body: Buffer.from(bytes).toString() });
    return true;
  }
  onWritable(): void {
    return;
  }
  end(): void {
    this.events.push({ call: "end" });
  }
  close(): void {
    this.events.push({ call: "close" });
  }
}

const until = async (check: () => boolean, ms = 2000) => {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 5));
  }
};

let bus: MemoryBus;
afterEach(async () => {
  await bus?.close();
});

function node(
  nodeId: string,
  handle: HubRequestHandler,
  overrides: { streamIdleMs?: number; upgrade?: ForwarderOptions["upgrade"] } = {},
): Forwarder {
  return new Forwarder({
    bus,
    nodeId,
    log: silentLogger(),
    handle,
    forwardTimeoutMs: 300,
    longPollTimeoutMs: 300,
    streamIdleMs: overrides.streamIdleMs ?? 5000,
    maxBackpressureBytes: 1024,
    upgrade: overrides.upgrade ?? (() => Promise.reject(new Error("no upgrades in this test"))),
  });
}

const unused: HubRequestHandler = () => Promise.reject(new Error("not the owner"));
const request = (over: Partial<RelayedRequest> = {}): RelayedRequest => ({
  method: "GET",
  path: "/notifications",
  query: `id=${mintId("b")}`,
  headers: {},
  body: null,
  ...over,
});

describe("forward codec", () => {
  it("round-trips metadata and binary bodies, and refuses truncated frames", () => {
    const body = Uint8Array.from([0x93, 0x07, 0xc0, 0xc3, 0x1e, 0x00, 0xff]);
    const decoded = decodeFrame(
      encodeFrame({ k: "head", status: 200, headers: [["Content-Type", "application/octet-stream"]], final: true }, body),
    );
    expect(decoded.meta).toEqual({ k: "head", status: 200, headers: [["Content-Type", "application/octet-stream"]], final: true });
    expect([...decoded.body]).toEqual([...body]);
    expect(decodeFrame(encodeFrame({ k: "end" })).body.byteLength).toBe(0);
    expect(() => decodeFrame(Uint8Array.from([0, 0]))).toThrow(RangeError);
    expect(() => decodeFrame(Uint8Array.from([0, 0, 0, 9, 123]))).toThrow(RangeError);
  });
});

describe("forwarder over MemoryBus", () => {
  it("names the owner only for GET, POST and DELETE with an id of another node", () => {
    bus = new MemoryBus();
    const a = node("a", unused);
    expect(a.remoteOwner("GET", `id=${mintId("b")}`)).toBe("b");
    expect(a.remoteOwner("DELETE", `_=1&ID=${mintId("b")}`)).toBe("b");
    expect(a.remoteOwner("GET", `id=${mintId("a")}`)).toBeNull();
    expect(a.remoteOwner("PUT", `id=${mintId("b")}`)).toBeNull();
    expect(a.remoteOwner("GET", "id=not-a-tidings-id")).toBeNull();
    expect(a.remoteOwner("GET", "")).toBeNull();
  });

  it("relays a request to the owner's handler and its answer verbatim: status, headers, body bytes", async () => {
    bus = new MemoryBus();
    const seen: HubRequest[] = [];
    let bodySeen = "";
    node("b", async (sink, req) => {
      seen.push(req);
      bodySeen = (await req.readBody(100)).toString();
      sink.send(200, Uint8Array.from([1, 2, 0x1e]), [
        ["Content-Type", "application/octet-stream"],
        ["Pragma", "no-cache"],
      ]);
    });
    const a = node("a", unused);
    const sink = new FakeSink();
    const req = request({
      method: "POST",
      headers: { authorization: "Bearer t", accept: "*/*", "x-signalr-user-agent": "ua" },
      body: Promise.resolve(Buffer.from("hello")),
    });
    await a.relay(sink, req, "b");
    expect(seen[0]).toMatchObject({ method: "POST", query: req.query, accept: "*/*", authorization: "Bearer t" });
    expect(bodySeen).toBe("hello");
    expect(sink.events).toEqual([
      {
        call: "send",
        status: 200,
        headers: [
          ["Content-Type", "application/octet-stream"],
          ["Pragma", "no-cache"],
        ],
        body: "\x01\x02\x1e",
      },
    ]);
  });

  it("a body refused as too large on the relaying node is too large on the owner", async () => {
    bus = new MemoryBus();
    let refused: unknown;
    node("b", async (sink, req) => {
      refused = await req.readBody(1_000_000).catch((err: unknown) => err);
      sink.text(413, "too large");
    });
    const a = node("a", unused);
    const sink = new FakeSink();
    await a.relay(sink, request({ method: "POST", body: Promise.reject(new BodyTooLargeError("x")) }), "b");
    expect(refused).toBeInstanceOf(BodyTooLargeError);
    expect(sink.events[0]).toMatchObject({ status: 413, body: "too large" });
  });

  it("no owner answering → 404 No Connection with that ID (no responders, and timeout)", async () => {
    bus = new MemoryBus();
    const a = node("a", unused);
    const gone = new FakeSink();
    await a.relay(gone, request({ method: "DELETE" }), "nobody");
    expect(gone.events).toEqual([
      { call: "send", status: 404, headers: [["Content-Type", "text/plain"]], body: "No Connection with that ID" },
    ]);
    node("b", () => new Promise<void>(() => undefined)); // takes the request, never answers
    const silent = new FakeSink();
    const started = Date.now();
    await a.relay(silent, request({ method: "DELETE" }), "b");
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect(silent.events[0]).toMatchObject({ status: 404, body: "No Connection with that ID" });
  });

  it("a frame on the forward subject that no gateway wrote is answered 400 at once and reaches no handler", async () => {
    bus = new MemoryBus({ onError: () => undefined });
    let handled = 0;
    node("b", async (sink) => {
      handled++;
      sink.text(200);
    });
    const junk = [
      Uint8Array.from([0, 0, 0, 9, 0x7b]), // shorter than its metadata
      encodeFrame({ k: "req" } as never),
      encodeFrame({ k: "req", rid: "r1", method: "GET", path: "/notifications", query: "id=x" } as never), // no headers
      encodeFrame({ k: "req", rid: "r2", method: "GET", path: "/notifications", query: "id=x", headers: { accept: 1 } } as never),
      encodeFrame({ k: "wsclose", rid: "r3", code: "x" } as never),
      encodeFrame({ k: "nope", rid: "r4" } as never),
    ];
    for (const frame of junk) {
      const started = Date.now();
      const answer = await bus.request(subjects.forward("b"), frame, { timeoutMs: 1000 });
      expect(Date.now() - started).toBeLessThan(500);
      expect(decodeFrame(answer.data).meta).toEqual({ k: "head", status: 400, headers: [], final: true });
    }
    expect(handled).toBe(0);
    // A well-formed request after them is served.
    const sink = new FakeSink();
    await node("a", unused).relay(sink, request(), "b");
    expect(sink.events[0]).toMatchObject({ status: 200 });
    expect(handled).toBe(1);
  });

  it("the client leaving a relayed poll aborts it on the owner", async () => {
    bus = new MemoryBus();
    let ownerAborted = false;
    node("b", async (sink) => {
      sink.onAbort(() => (ownerAborted = true));
      await new Promise<void>(() => undefined);
    });
    const a = node("a", unused);
    const sink = new FakeSink();
    void a.relay(sink, request(), "b");
    await new Promise((r) => setTimeout(r, 30));
    sink.abort();
    await until(() => ownerAborted);
  });

  it("relays an SSE stream in order: head and first bytes, events, end; and a refusal as a plain answer", async () => {
    bus = new MemoryBus();
    node("b", async (sink, req) => {
      if (req.query.includes("refuse")) return sink.send(409);
      sink.startStream(200, [["Content-Type", "text/event-stream"]], ":\r\n");
      await new Promise((r) => setTimeout(r, 10));
      for (let i = 0; i < 20; i++) sink.write(Buffer.from(`data: ${i}\r\n\r\n`));
      sink.end();
    });
    const a = node("a", unused);
    const sink = new FakeSink();
    await a.relay(sink, request({ headers: { accept: "text/event-stream" } }), "b");
    await until(() => sink.events.at(-1)?.call === "end");
    expect(sink.events[0]).toEqual({ call: "startStream", status: 200, headers: [["Content-Type", "text/event-stream"]], body: ":\r\n" });
    expect(sink.events.slice(1, -1).map((e) => e.body)).toEqual(Array.from({ length: 20 }, (_, i) => `data: ${i}\r\n\r\n`));

    const refused = new FakeSink();
    await a.relay(refused, request({ query: `id=${mintId("b")}&refuse=1`, headers: { accept: "text/event-stream" } }), "b");
    await until(() => refused.events.length > 0);
    expect(refused.events).toEqual([{ call: "send", status: 409, headers: [], body: "" }]);
  });

  it("a relayed stream ends when its client leaves (owner told) or when the owner goes silent", async () => {
    bus = new MemoryBus();
    let ownerAborted = false;
    node("b", async (sink) => {
      sink.onAbort(() => (ownerAborted = true));
      sink.startStream(200, [], ":\r\n");
      await Promise.resolve();
    });
    const a = node("a", unused, { streamIdleMs: 150 });
    const left = new FakeSink();
    await a.relay(left, request({ headers: { accept: "text/event-stream" } }), "b");
    await until(() => left.events.length === 1);
    left.abort();
    await until(() => ownerAborted);

    const stale = new FakeSink();
    await a.relay(stale, request({ headers: { accept: "text/event-stream" } }), "b");
    await until(() => stale.events.at(-1)?.call === "close", 1000);
    expect(stale.events.map((e) => e.call)).toEqual(["startStream", "close"]);
  });

  it("relays a WebSocket: refusals verbatim; after 101 frames both ways with their opcodes, and a close on either side", async () => {
    bus = new MemoryBus();
    const inbound: string[] = [];
    const closes: number[] = [];
    node("b", unused, {
      upgrade: (sink, req) => {
        if (req.query.includes("refuse")) {
          sink.text(400, "Cannot change transports mid-connection");
          return Promise.resolve(null);
        }
        return Promise.resolve({
          message: (bytes: Uint8Array) => void inbound.push(Buffer.from(bytes).toString()),
          closed: (code: number) => void closes.push(code),
        });
      },
    });
    const a = node("a", unused);
    const refusedSink = new FakeSink();
    expect(await a.relayUpgrade(refusedSink, request({ query: `id=${mintId("b")}&refuse=1` }), "b")).toBeNull();
    expect(refusedSink.events).toEqual([
      { call: "send", status: 400, headers: [["Content-Type", "text/plain"]], body: "Cannot change transports mid-connection" },
    ]);
    expect(await a.relayUpgrade(new FakeSink(), request(), "nobody")).toBeNull();

    const relay = (await a.relayUpgrade(new FakeSink(), request(), "b"))!;
    expect(relay).not.toBeNull();
    const socket: ClientSocket = { send: () => undefined, end: () => undefined, close: () => undefined, bufferedAmount: () => 0 };
    relay.opened(socket);
    relay.message(Buffer.from("hello"));
    await until(() => inbound.length === 1);
    expect(inbound).toEqual(["hello"]);
    relay.closed(1006);
    await until(() => closes.length === 1);
    expect(closes).toEqual([1006]);
  });

  it("the owner's frames reach the relayed client in order with their opcodes, frames sent before the upgrade completed included", async () => {
    bus = new MemoryBus();
    let link: SocketLink | null = null;
    node("b", unused, {
      upgrade: (_sink, _req, l) => {
        link = l;
        l.send(Buffer.from("early"), false); // a stateful reattach sends its Sequence at once
        return Promise.resolve({ message: () => undefined, closed: () => undefined });
      },
    });
    const a = node("a", unused);
    const relay = (await a.relayUpgrade(new FakeSink(), request(), "b"))!;
    const sent: Array<{ hex: string; binary: boolean }> = [];
    const ended: number[] = [];
    await new Promise((r) => setTimeout(r, 20));
    relay.opened({
      send: (b, binary) => void sent.push({ hex: Buffer.from(b).toString("hex"), binary }),
      end: (c) => void ended.push(c),
      close: () => undefined,
      bufferedAmount: () => 0,
    });
    link!.send(Uint8Array.from([0x93]), true);
    link!.send(Buffer.from("{}"), false);
    link!.end(1000);
    await until(() => ended.length === 1);
    expect(sent).toEqual([
      { hex: Buffer.from("early").toString("hex"), binary: false },
      { hex: "93", binary: true },
      { hex: Buffer.from("{}").toString("hex"), binary: false },
    ]);
    expect(ended).toEqual([1000]);
  });
});

import { describe, expect, it } from "vitest";
import type { ResponseSink } from "../http/respond.js";
import { JsTopics } from "./js-topics.js";
import { LongPollingTransport } from "./long-polling-transport.js";
import { RelayedWsTransport } from "./relayed-ws-transport.js";
import { SseTransport } from "./sse-transport.js";
import { StatefulTransport } from "./stateful-transport.js";
import { isPolled } from "./transport.js";
import { getProtocol } from "@tidings/protocol";

/** A response that accepts everything; the transports here are only asked what they can do. */
const sink = (): ResponseSink => ({
  aborted: false,
  onAbort: () => undefined,
  send: () => undefined,
  text: () => undefined,
  unauthorized: () => undefined,
  startStream: () => undefined,
  write: () => true,
  onWritable: () => undefined,
  end: () => undefined,
  close: () => undefined,
});

describe("transport capabilities", () => {
  const topics = new JsTopics();
  const noop = () => undefined;
  const sse = new SseTransport(sink(), { topics, sink: noop, onGone: noop });
  const polling = new LongPollingTransport(sink(), { topics, sink: noop, onGone: noop, pollTimeoutMs: 1000, disconnectTimeoutMs: 1000 });
  const relayed = new RelayedWsTransport({ send: noop, end: noop }, topics, noop);

  it("SSE is text-only, pushed, with keep-alive and POST upstream; it cannot be stateful", () => {
    expect(sse.capabilities).toEqual({ textOnly: true, keepAlive: true, canBeStateful: false, upstream: "post", downstream: "push" });
    expect(isPolled(sse)).toBe(false);
  });

  it("long polling is polled (DELETE ends it), without keep-alive, with POST upstream", () => {
    expect(polling.capabilities).toEqual({ textOnly: false, keepAlive: false, canBeStateful: false, upstream: "post", downstream: "poll" });
    expect(isPolled(polling)).toBe(true);
    polling.terminate();
  });

  it("a WebSocket, local or relayed, carries both formats upstream on the socket and can be stateful; the stateful layer keeps what its socket can do", () => {
    expect(relayed.capabilities).toEqual({ textOnly: false, keepAlive: true, canBeStateful: true, upstream: "socket", downstream: "push" });
    const stateful = new StatefulTransport(relayed, {
      protocol: getProtocol("json"),
      topics,
      sink: noop,
      bufferBytes: 1024,
      reattachWindowMs: 1000,
    });
    expect(stateful.kind).toBe("WebSockets");
    expect(stateful.capabilities).toBe(relayed.capabilities);
  });
});

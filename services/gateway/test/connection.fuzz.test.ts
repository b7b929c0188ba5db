import assert from "node:assert/strict";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { HubConnectionState, type HubConnection } from "@microsoft/signalr";
import { chunked, concatBytes, fc, fuzz, fuzzTimeoutMs, mutated } from "@tidings/fuzzing";
import { messagePackProtocol, type HubMessage } from "@tidings/protocol";
import { buildClient, collect, mintToken, RawWs, sleep, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelope, startGateway, type TestGateway } from "./harness.js";

/*
 * Connection-level fuzz against a live node: many connections at once, each sending a generated
 * handshake (valid, mutated or garbage) and then valid, mutated and hostile hub frames (split frames,
 * huge length prefixes, invalid UTF-8, bad MessagePack, wrong JSON types, deep nesting, oversized
 * messages) over WebSockets or long polling. Whatever a connection sends, the node answers with
 * documented errors only, and afterwards /healthz answers and bystander stock clients still get
 * notifications.
 */

const MAX_MESSAGE_BYTES = 4096;
const RS = 0x1e;
const textEncoder = new TextEncoder();

let gw: TestGateway;
let token: string;
const bystanders: Array<{ connection: HubConnection; received: Array<{ id: string }> }> = [];

beforeAll(async () => {
  gw = await startGateway({ TIDINGS_MAX_MESSAGE_BYTES: String(MAX_MESSAGE_BYTES), TIDINGS_LONG_POLL_TIMEOUT_SECONDS: "1" });
  token = await mintToken({ sub: "fuzzer", tenants: ["t1"] });
  for (const protocol of ["json", "messagepack"] as const) {
    const connection = buildClient(gw.url, { protocol, token: await mintToken({ sub: "bystander" }) });
    const received = collect<{ id: string }>(connection, "fuzz-marker");
    await connection.start();
    bystanders.push({ connection, received });
  }
});

afterAll(async () => {
  await Promise.all(bystanders.map((b) => b.connection.stop()));
  await gw?.[Symbol.asyncDispose]();
});

type Protocol = "json" | "messagepack";

const data = fc.jsonValue({ maxDepth: 2 });
const audienceArgument = fc.record(
  {
    audienceType: fc.oneof(fc.integer({ min: 0, max: 6 }), data),
    audienceValue: fc.oneof(fc.constantFrom("t1", "g", "t1:g", ""), fc.string({ maxLength: 8 }), data),
    tenantId: fc.oneof(fc.constantFrom("t1", "t2", null), data),
  },
  { requiredKeys: [] },
);
/** Client hub messages as field records: real method names with fuzzed arguments, every other type, wrong field types. */
const hubMessage = fc.oneof(
  {
    weight: 4,
    arbitrary: fc.record({
      type: fc.constantFrom(1, 4),
      invocationId: fc.oneof(fc.constant(undefined), fc.string({ maxLength: 4 }), data),
      target: fc.oneof(
        fc.constantFrom("Subscribe", "Unsubscribe", "subscribe", "MarkAsRead", "GetNotifications"),
        fc.string({ maxLength: 10 }),
        data,
      ),
      arguments: fc.oneof(fc.array(fc.oneof(audienceArgument, data), { maxLength: 2 }), data),
      streamIds: fc.oneof(fc.constant(undefined), fc.array(fc.string({ maxLength: 3 }), { maxLength: 2 })),
    }),
  },
  {
    weight: 1,
    arbitrary: fc.record(
      {
        type: fc.constantFrom(2, 3, 5, 6, 7, 8, 9, 10, 99),
        invocationId: fc.oneof(fc.string({ maxLength: 4 }), data),
        sequenceId: fc.oneof(fc.integer(), data),
        error: fc.oneof(fc.string(), data),
        result: data,
        item: data,
      },
      { requiredKeys: ["type"] },
    ),
  },
);

function jsonFrame(message: Record<string, unknown>): Uint8Array {
  return textEncoder.encode(`${JSON.stringify(message)}\u001e`);
}

function msgpackFrame(message: Record<string, unknown>): Uint8Array {
  const m = message as {
    type: number;
    invocationId?: unknown;
    target?: unknown;
    arguments?: unknown;
    streamIds?: unknown;
    sequenceId?: unknown;
    error?: unknown;
    result?: unknown;
  };
  const array =
    m.type === 1 || m.type === 4
      ? [m.type, {}, m.invocationId ?? null, m.target, m.arguments, m.streamIds ?? []]
      : m.type === 8 || m.type === 9
        ? [m.type, m.sequenceId]
        : m.type === 7
          ? [7, m.error, false]
          : [m.type, {}, m.invocationId, m.result];
  return withLengthPrefix(msgpackEncode(array, { ignoreUndefined: true }));
}

function withLengthPrefix(body: Uint8Array): Uint8Array {
  const prefix: number[] = [];
  for (let n = body.length; n >= 0x80; n >>>= 7) prefix.push((n & 0x7f) | 0x80);
  prefix.push(body.length >>> (7 * prefix.length));
  return concatBytes(Uint8Array.from(prefix), body);
}

/** Frames that no parser should survive quietly, for either protocol. */
const hostile = (protocol: Protocol): fc.Arbitrary<Uint8Array> =>
  fc.oneof(
    fc.constant(
      protocol === "json"
        ? Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d, RS)
        : Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x07, 0x91),
    ), // invalid UTF-8 / huge length
    fc.constant(protocol === "json" ? Uint8Array.of(0xed, 0xa0, 0x80, RS) : Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01)), // surrogate bytes / six-byte varint
    fc
      .integer({ min: 60, max: 300 })
      .map((depth) =>
        protocol === "json"
          ? textEncoder.encode(`{"type":1,"target":"Subscribe","arguments":[${"[".repeat(depth)}${"]".repeat(depth)}]}\u001e`)
          : withLengthPrefix(
              concatBytes(Uint8Array.of(0x95, 0x01, 0x80, 0xc0, 0xa1, 0x53), new Uint8Array(depth).fill(0x91), Uint8Array.of(0x90)),
            ),
      ),
    fc.constant(new Uint8Array(MAX_MESSAGE_BYTES + 16).fill(0x20)), // over the message limit
    fc.uint8Array({ minLength: 1, maxLength: 64 }),
  );

function framesFor(protocol: Protocol): fc.Arbitrary<Uint8Array> {
  const valid = hubMessage.map((m) => (protocol === "json" ? jsonFrame(m) : msgpackFrame(m)));
  return fc.oneof({ weight: 5, arbitrary: valid }, { weight: 3, arbitrary: mutated(valid) }, { weight: 1, arbitrary: hostile(protocol) });
}

function handshakeFor(protocol: Protocol): fc.Arbitrary<Uint8Array> {
  const valid = fc.constantFrom(1, 2).map((version) => textEncoder.encode(`{"protocol":"${protocol}","version":${version}}\u001e`));
  return fc.oneof(
    { weight: 6, arbitrary: valid },
    { weight: 2, arbitrary: mutated(valid) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 48 }) },
  );
}

interface Script {
  transport: "WebSockets" | "LongPolling";
  protocol: Protocol;
  /** The bytes the client sends, handshake first, cut into transport messages at random points. */
  chunks: Uint8Array[];
  /** WebSocket message type per chunk: a client may send either. */
  binary: boolean;
  /** How the client leaves: close frame, or a dropped socket. */
  terminate: boolean;
}

const script: fc.Arbitrary<Script> = fc
  .record({
    transport: fc.constantFrom("WebSockets" as const, "LongPolling" as const),
    protocol: fc.constantFrom("json" as const, "messagepack" as const),
    binary: fc.boolean(),
    terminate: fc.boolean(),
  })
  .chain((s) =>
    chunked(
      fc.tuple(handshakeFor(s.protocol), fc.array(framesFor(s.protocol), { maxLength: 6 })).map(([h, frames]) => concatBytes(h, ...frames)),
    ).map((chunks) => ({
      ...s,
      binary: s.protocol === "messagepack" || s.binary,
      chunks: chunks.filter((c) => c.length > 0),
    })),
  );

const CLOSE_ERRORS = new Set(["Message too large", "Invalid JSON", "Invalid MessagePack", "Invalid message", "Invalid sequence"]);
const HANDSHAKE_ERROR =
  /^(The protocol '.*' is not supported\.|The server does not support version -?\d+ of the '(json|messagepack)' protocol\.|Handshake was canceled\.|An unexpected error occurred during connection handshake\.)$/su;
const COMPLETION_ERROR =
  /^(Failed to invoke '.*' due to an error on the server\.|The client attempted to invoke the non-streaming '.*' method with a streaming invocation\.|An unexpected error occurred invoking '.*' on the server\.)/su;

/** Checks everything the server sent on one connection: a handshake answer, then only well-formed server messages with documented errors. */
function checkServerOutput(protocol: Protocol, output: Uint8Array): void {
  if (output.length === 0) return;
  const handshakeEnd = output.indexOf(RS);
  assert.ok(handshakeEnd >= 0, "a handshake answer ends with a record separator");
  const answer = JSON.parse(Buffer.from(output.subarray(0, handshakeEnd)).toString("utf8")) as { error?: string };
  if (answer.error !== undefined) {
    assert.match(answer.error, HANDSHAKE_ERROR);
    return assert.equal(output.length, handshakeEnd + 1, "nothing follows a handshake error");
  }
  assert.deepStrictEqual(answer, {});
  const rest = output.subarray(handshakeEnd + 1);
  const messages: HubMessage[] =
    protocol === "json"
      ? Buffer.from(rest)
          .toString("utf8")
          .split("\u001e")
          .filter((r) => r !== "")
          .map((r) => JSON.parse(r) as HubMessage)
      : messagePackProtocol.createDecoder(1 << 20).push(rest).messages;
  for (const m of messages) {
    if (m.type === 7 && "error" in m && m.error !== undefined && m.error !== null) assert.ok(CLOSE_ERRORS.has(m.error), m.error);
    if (m.type === 3 && "error" in m && typeof m.error === "string") assert.match(m.error, COMPLETION_ERROR);
  }
}

async function runWebSocket(s: Script): Promise<Uint8Array> {
  const ws = await RawWs.open(`${gw.url.replace("http", "ws")}/notifications?access_token=${token}`);
  // A text message is sent as the UTF-8 decoding of the chunk (invalid sequences become U+FFFD); binary messages carry raw bytes.
  for (const chunk of s.chunks) ws.send(s.binary ? chunk : Buffer.from(chunk).toString("utf8"), s.binary);
  await Promise.race([ws.closed, sleep(40)]);
  if (s.terminate) ws.terminate();
  else ws.close();
  await Promise.race([ws.closed, sleep(2000)]);
  assert.notEqual(ws.closeCode, null, "the socket closes");
  assert.ok(ws.closeCode !== 1011, "no internal-error close");
  return concatBytes(...ws.frames.map((f) => new Uint8Array(f.data)));
}

async function runLongPolling(s: Script): Promise<Uint8Array> {
  const headers = { authorization: `Bearer ${token}` };
  const negotiated = await fetch(`${gw.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers });
  assert.equal(negotiated.status, 200);
  const { connectionToken } = (await negotiated.json()) as { connectionToken: string };
  const url = `${gw.url}/notifications?id=${encodeURIComponent(connectionToken)}`;
  const statuses: number[] = [];
  const output: Uint8Array[] = [];
  const poll = async (waitMs: number) => {
    try {
      const res = await fetch(url, { headers, signal: AbortSignal.timeout(waitMs) });
      statuses.push(res.status);
      output.push(new Uint8Array(await res.arrayBuffer()));
    } catch (error) {
      // Nothing to send within waitMs: the client gives up on the poll, as a closing page does.
      if (!(error instanceof DOMException && error.name === "TimeoutError")) throw error;
    }
  };
  await poll(3000); // the first poll returns at once
  for (const chunk of s.chunks) {
    const res = await fetch(url, { method: "POST", headers, body: chunk, signal: AbortSignal.timeout(3000) });
    statuses.push(res.status);
    await res.arrayBuffer();
  }
  await poll(200);
  const deleted = await fetch(url, { method: "DELETE", headers, signal: AbortSignal.timeout(3000) });
  statuses.push(deleted.status);
  for (const status of statuses) assert.ok(status < 500, `HTTP ${status}`);
  return concatBytes(...output);
}

describe("connection-level fuzz against a live node", { timeout: fuzzTimeoutMs() }, () => {
  it("W-BAD-07 answers every connection's generated handshake and frames with documented messages and errors only", async () => {
    await fuzz(
      "connections (WebSockets, long polling)",
      script,
      async (s) => {
        const output = s.transport === "WebSockets" ? await runWebSocket(s) : await runLongPolling(s);
        checkServerOutput(s.protocol, output);
      },
      { share: 0.05, maxMsPerInput: 10_000, concurrency: 20 },
    );
  });

  it("W-BAD-07 keeps serving afterwards: /healthz answers and bystander clients of both protocols still get a notification", async () => {
    expect((await fetch(`${gw.url}/healthz`)).status).toBe(200);
    const marker = envelope(1, undefined, { type: "fuzz-marker" });
    expect((await gw.publish(marker)).status).toBe(202);
    for (const b of bystanders) {
      expect(b.connection.state).toBe(HubConnectionState.Connected);
      await waitFor(() => b.received.some((n) => n.id === marker.id), 5000, `bystander notification`);
    }
  });
});

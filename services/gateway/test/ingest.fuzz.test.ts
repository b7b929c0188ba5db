import assert from "node:assert/strict";
import { HubConnectionState, type HubConnection } from "@microsoft/signalr";
import { validateEnvelopes } from "@tidings/contracts";
import { envelope, fc, fuzz, fuzzTimeoutMs, mutated } from "@tidings/fuzzing";
import { buildClient, collect, mintToken, waitFor } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { envelopeSizes } from "../src/http/envelope-sizes.js";
import { envelope as validEnvelope, startGateway, type TestGateway } from "./harness.js";

/*
 * HTTP ingest fuzz against real gateways over real sockets: random and mutated bodies, methods,
 * content types, credentials and envelope sizes. Every answer must be the one the contract gives for
 * that request (computed here from the request alone), with the contract's JSON body; never a 5xx,
 * never a hang; and the node keeps serving its clients.
 *
 * Not generated here (the hardening tests cover them): content types that only mention
 * application/json in a parameter, application/msgpack bodies, a non-loopback Host, NUL characters
 * and bodies nested deeper than 64 levels.
 */

const PRODUCER_KEY = "fuzz-producer-key-7f3a9c";
const MAX_NOTIFICATION_BYTES = 4096;
const textEncoder = new TextEncoder();

let open: TestGateway;
let keyed: TestGateway;
const bystanders: Array<{ connection: HubConnection; received: unknown[] }> = [];

beforeAll(async () => {
  const env = { TIDINGS_MAX_NOTIFICATION_BYTES: String(MAX_NOTIFICATION_BYTES) };
  open = await startGateway(env);
  keyed = await startGateway({ ...env, TIDINGS_INGEST_KEYS: PRODUCER_KEY });
  for (const protocol of ["json", "messagepack"] as const) {
    const connection = buildClient(open.url, { protocol, token: await mintToken({ sub: `bystander-${protocol}` }) });
    const received = collect(connection, "fuzz-marker");
    await connection.start();
    bystanders.push({ connection, received });
  }
});

afterAll(async () => {
  await Promise.all(bystanders.map((b) => b.connection.stop()));
  await open?.[Symbol.asyncDispose]();
  await keyed?.[Symbol.asyncDispose]();
});

interface IngestRequest {
  keyed: boolean;
  method: string;
  contentType: string | undefined;
  authorization: string | undefined;
  body: Uint8Array;
}

const JSON_TYPES = ["application/json", "application/json; charset=utf-8", "Application/JSON", "application/json;charset=UTF-8"];
const OTHER_TYPES = [
  "text/plain",
  "",
  "application/x-www-form-urlencoded",
  "multipart/form-data; boundary=x",
  "application/xml",
  "text/json",
  "application/octet-stream",
];

/** An envelope near the size limit: its body string is padded to land just under or over it. */
const sizedEnvelope = fc.integer({ min: -64, max: 64 }).map((delta) => {
  const base = validEnvelope(1, undefined, { body: "" });
  const padding = MAX_NOTIFICATION_BYTES - Buffer.byteLength(JSON.stringify(base)) + delta;
  return { ...base, body: "x".repeat(Math.max(0, padding)) };
});
const jsonBody = fc
  .oneof(
    { weight: 4, arbitrary: envelope },
    { weight: 3, arbitrary: fc.array(envelope, { maxLength: 5 }) },
    { weight: 1, arbitrary: sizedEnvelope },
    { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 3 }) },
  )
  .map((value) => textEncoder.encode(JSON.stringify(value) ?? ""));
const body = fc.oneof(
  { weight: 6, arbitrary: jsonBody },
  { weight: 3, arbitrary: mutated(jsonBody) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 512 }) },
);

const request: fc.Arbitrary<IngestRequest> = fc.record({
  keyed: fc.boolean(),
  method: fc.oneof(
    { weight: 12, arbitrary: fc.constant("POST") },
    { weight: 1, arbitrary: fc.constantFrom("PUT", "PATCH", "DELETE", "GET") },
  ),
  contentType: fc.oneof(
    { weight: 8, arbitrary: fc.constantFrom(...JSON_TYPES) },
    { weight: 1, arbitrary: fc.constantFrom(...OTHER_TYPES) },
    { weight: 1, arbitrary: fc.constant(undefined) },
  ),
  authorization: fc.oneof(
    { weight: 6, arbitrary: fc.constantFrom(`Bearer ${PRODUCER_KEY}`, `bearer  ${PRODUCER_KEY} `) },
    { weight: 1, arbitrary: fc.constant(undefined) },
    {
      weight: 1,
      arbitrary: fc.constantFrom(`Bearer ${PRODUCER_KEY}x`, `Basic ${PRODUCER_KEY}`, "Bearer ", `Bearer ${PRODUCER_KEY.slice(1)}`),
    },
    { weight: 1, arbitrary: fc.string({ maxLength: 40 }).map((s) => s.replace(/[^\x20-\x7e]/gu, "")) },
  ),
  body,
});

/** The answer the contract gives, from the request alone. */
function expectedAnswer(req: IngestRequest): { status: number; body: Record<string, unknown> | undefined } {
  if (req.method !== "POST") return { status: 405, body: { error: "method_not_allowed" } };
  if (req.keyed) {
    const presented = /^Bearer\s+(.+)$/iu.exec((req.authorization ?? "").trim())?.[1];
    if (presented !== PRODUCER_KEY) return { status: 401, body: { error: "unauthorized" } };
  }
  if (!JSON_TYPES.includes(req.contentType ?? "")) return { status: 415, body: { error: "unsupported_media_type" } };
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(req.body).toString("utf8"));
  } catch {
    return { status: 400, body: { error: "invalid_json" } };
  }
  // Envelopes are limited by their size as received (src/http/envelope-sizes.test.ts checks the measure).
  const sizes = envelopeSizes(req.body);
  const result = validateEnvelopes(parsed, {
    now: new Date(),
    defaultTtlSeconds: 1800,
    maxNotificationBytes: MAX_NOTIFICATION_BYTES,
    sizes,
  });
  if (!result.ok) return { status: 400, body: { error: "invalid_notification", problems: result.problems } };
  return { status: 202, body: { accepted: result.notifications.length, ids: result.notifications.map((n) => n.id) } };
}

async function send(req: IngestRequest): Promise<Response> {
  const gw = req.keyed ? keyed : open;
  const headers: Record<string, string> = {};
  if (req.contentType !== undefined) headers["content-type"] = req.contentType;
  if (req.authorization !== undefined) headers["authorization"] = req.authorization;
  return fetch(`${gw.url}/api/notifications`, {
    method: req.method,
    headers,
    ...(req.method === "GET" ? {} : { body: req.body }),
    signal: AbortSignal.timeout(5000),
  });
}

describe("HTTP ingest fuzz", { timeout: fuzzTimeoutMs() }, () => {
  it("answers every generated request with the contract's status and JSON body, never a 5xx or a hang", async () => {
    await fuzz(
      "HTTP ingest",
      request,
      async (req) => {
        const want = expectedAnswer(req);
        const res = await send(req);
        const text = await res.text();
        assert.equal(res.status, want.status, text);
        assert.match(res.headers.get("content-type") ?? "", /^application\/json/u);
        const got = JSON.parse(text) as Record<string, unknown>;
        if (res.status === 202) return assert.deepStrictEqual(got, want.body);
        assert.equal(got["error"], want.body?.["error"]);
        assert.equal(typeof got["message"], "string");
        if (want.body?.["problems"] !== undefined) assert.deepStrictEqual(got["problems"], want.body["problems"]);
      },
      { share: 0.1, maxMsPerInput: 5000, concurrency: 8 },
    );
  });

  it("refuses a batch of 1001 envelopes as a whole", async () => {
    const res = await open.publish(Array.from({ length: 1001 }, () => validEnvelope(1, undefined)));
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({
      error: "invalid_notification",
      problems: [{ index: -1, path: "", message: "must hold at most 1000 envelopes, not 1001" }],
    });
  });

  it("refuses a body over 4 MiB with 413 and reads one of exactly 4 MiB", async () => {
    const limit = 4 * 1024 * 1024;
    const at = await send({
      keyed: false,
      method: "POST",
      contentType: "application/json",
      authorization: undefined,
      body: new Uint8Array(limit).fill(0x20),
    });
    expect(at.status).toBe(400); // read in full: only whitespace, so not JSON
    const over = await send({
      keyed: false,
      method: "POST",
      contentType: "application/json",
      authorization: undefined,
      body: new Uint8Array(limit + 1).fill(0x20),
    });
    expect(over.status).toBe(413);
    expect(await over.json()).toMatchObject({ error: "payload_too_large" });
  });

  it("keeps serving afterwards: /healthz answers and bystander clients of both protocols still get notifications", async () => {
    expect((await fetch(`${open.url}/healthz`)).status).toBe(200);
    const marker = validEnvelope(1, undefined, { type: "fuzz-marker" });
    expect((await open.publish(marker)).status).toBe(202);
    for (const b of bystanders) {
      expect(b.connection.state).toBe(HubConnectionState.Connected);
      await waitFor(() => b.received.some((n) => (n as { id?: string }).id === marker.id));
    }
  });
});

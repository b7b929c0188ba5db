import assert from "node:assert/strict";
import { chunked, concatBytes, fc, fuzz, fuzzTimeoutMs, mutated } from "@tidings/fuzzing";
import { describe, it } from "vitest";
import { createHandshakeParser, type HandshakeOutcome } from "./handshake.js";
import { parseNegotiateQuery } from "./negotiate.js";

/*
 * Property-based fuzzing of the handshake reader and the negotiate query parser: the first things an
 * unauthenticated client controls.
 */

const MAX_BYTES = 1024;
const textEncoder = new TextEncoder();

const protocolName = fc.oneof(
  fc
    .constantFrom("json", "messagepack")
    .chain((name) =>
      fc
        .array(fc.boolean(), { minLength: name.length, maxLength: name.length })
        .map((upper) => [...name].map((c, i) => (upper[i] ? c.toUpperCase() : c)).join("")),
    ),
  fc.string({ maxLength: 12 }),
);
const version = fc.oneof(fc.integer({ min: -3, max: 4 }), fc.integer(), fc.double(), fc.string({ maxLength: 3 }), fc.constant(null));
const handshakeRequest = fc
  .record(
    {
      protocol: fc.oneof({ weight: 5, arbitrary: protocolName }, fc.jsonValue({ maxDepth: 1 })),
      version,
      extra: fc.jsonValue({ maxDepth: 1 }),
    },
    { requiredKeys: [] },
  )
  .map((request) => textEncoder.encode(`${JSON.stringify(request)}\u001e`));
/** A handshake followed by hub data, as a client sends them in one write. */
const withHubData = fc.tuple(handshakeRequest, fc.uint8Array({ maxLength: 16 })).map(([h, data]) => concatBytes(h, data));
const handshakeInput = fc.oneof(
  { weight: 4, arbitrary: withHubData },
  { weight: 4, arbitrary: mutated(withHubData) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: MAX_BYTES + 64 }) },
  {
    weight: 1,
    arbitrary: fc
      .integer({ min: MAX_BYTES - 4, max: MAX_BYTES + 4 })
      .map((n) => concatBytes(new Uint8Array(n).fill(0x20), Uint8Array.of(0x1e))),
  },
);

const ERROR_PATTERNS = [
  /^The protocol '.*' is not supported\.$/su,
  /^The server does not support version -?\d+ of the '(json|messagepack)' protocol\.$/u,
  /^Handshake was canceled\.$/u,
  /^An unexpected error occurred during connection handshake\.$/u,
];

/** Every chunk pushed in order; the outcome after the last, with `rest` of all chunks after the settling one. */
function handshake(chunks: readonly Uint8Array[]): { outcome: HandshakeOutcome; rest: Uint8Array } {
  const parser = createHandshakeParser(MAX_BYTES);
  let outcome: HandshakeOutcome = { status: "incomplete" };
  const rest: Uint8Array[] = [];
  for (const chunk of chunks) {
    const next = parser.push(chunk);
    if (outcome.status === "error") assert.deepStrictEqual(next, outcome); // the first error is final
    if (outcome.status === "ok") assert.ok(next.status === "ok" && next.protocol === outcome.protocol && next.version === outcome.version);
    if (next.status === "ok") rest.push(next.rest);
    outcome = next;
  }
  if (outcome.status === "ok") return { outcome: { ...outcome, rest: new Uint8Array() }, rest: concatBytes(...rest) };
  return { outcome, rest: new Uint8Array() };
}

/** What the handshake must decide for one complete request record, by the rules written out independently. */
function expectedOutcome(bytes: Uint8Array): "ok" | "error" | "incomplete" {
  const separator = bytes.indexOf(0x1e);
  if (separator === -1) return bytes.length >= MAX_BYTES ? "error" : "incomplete";
  if (separator >= MAX_BYTES) return "error";
  let request: unknown;
  try {
    request = JSON.parse(new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(bytes.subarray(0, separator)));
  } catch {
    return "error";
  }
  if (typeof request !== "object" || request === null || Array.isArray(request)) return "error";
  const { protocol, version: v } = request as Record<string, unknown>;
  if (typeof protocol !== "string" || typeof v !== "number" || !Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) return "error";
  // ASCII case folding only: "messagepac\u212A" (Kelvin sign) is not "messagepack".
  return ["json", "messagepack"].includes(protocol.replace(/[A-Z]/gu, (c) => c.toLowerCase())) && v <= 2 ? "ok" : "error";
}

describe("handshake fuzz", { timeout: fuzzTimeoutMs() }, () => {
  it("settles any client input, however split, on one outcome with a documented error and the hub data after the separator", async () => {
    await fuzz(
      "handshake",
      chunked(handshakeInput),
      (chunks) => {
        const whole = concatBytes(...chunks);
        const { outcome, rest } = handshake(chunks);
        assert.deepStrictEqual(handshake([whole]), { outcome, rest }, "split changed the outcome");
        assert.equal(outcome.status, expectedOutcome(whole));
        if (outcome.status === "error")
          assert.ok(
            ERROR_PATTERNS.some((p) => p.test(outcome.error)),
            outcome.error,
          );
        if (outcome.status === "ok") assert.deepStrictEqual(rest, whole.subarray(whole.indexOf(0x1e) + 1));
      },
      { share: 0.09, maxMsPerInput: 1000 },
    );
  });
});

/** A query name as a client may spell it: any ASCII case, sometimes percent-encoded. */
function spelled(name: string): fc.Arbitrary<string> {
  return fc
    .array(fc.integer({ min: 0, max: 2 }), { minLength: name.length, maxLength: name.length })
    .map((ways) =>
      [...name].map((c, i) => (ways[i] === 1 ? c.toUpperCase() : ways[i] === 2 ? `%${c.charCodeAt(0).toString(16)}` : c)).join(""),
    );
}

const noise = fc.oneof(
  fc.string({ unit: "binary", maxLength: 12 }).map(encodeURIComponent),
  fc.string({ maxLength: 12 }),
  fc.constantFrom("%", "%E0%A4%A", "%zz", "+", "=", "&&", "%00", "negotiateVersion", "useStatefulReconnect="),
);
const negotiateVersionValue = fc.oneof(
  fc.integer({ min: -3, max: 5 }).map(String),
  fc.integer().map(String),
  fc.string({ maxLength: 6 }),
  fc.constantFrom(" 1 ", "+1", "-0", "01", "2147483648", "1.0", "", "\u00a01"),
);
const negotiateQuery = fc
  .array(
    fc.oneof(
      fc.tuple(spelled("negotiateVersion"), negotiateVersionValue).map(([n, v]) => `${n}=${encodeURIComponent(v)}`),
      fc.tuple(spelled("useStatefulReconnect"), fc.constantFrom("true", "TRUE", "True", "false", "1", "")).map(([n, v]) => `${n}=${v}`),
      noise,
      fc.tuple(noise, noise).map(([n, v]) => `${n}=${v}`),
    ),
    { maxLength: 5 },
  )
  .chain((parts) => fc.boolean().map((question) => `${question ? "?" : ""}${parts.join("&")}`));

describe("negotiate query fuzz", { timeout: fuzzTimeoutMs() }, () => {
  it("parses any query into a version 0 or 1 or a documented error, never a throw", async () => {
    await fuzz(
      "negotiate query",
      negotiateQuery,
      (query) => {
        const parsed = parseNegotiateQuery(query);
        if (parsed.ok) {
          assert.ok(parsed.version === 0 || parsed.version === 1);
          assert.equal(typeof parsed.statefulReconnect, "boolean");
        } else {
          assert.match(
            parsed.error,
            /^(The client requested a non-integer protocol version\.|The client requested version '-\d+', but the server does not support this version\.)$/u,
          );
        }
      },
      { share: 0.05, maxMsPerInput: 1000 },
    );
  });

  it("reads back the version and stateful flag a stock client sends, whatever else the query holds", async () => {
    const request = fc.record({
      version: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      stateful: fc.boolean(),
      before: fc.array(noise, { maxLength: 2 }),
      after: fc.array(noise, { maxLength: 2 }),
    });
    await fuzz(
      "negotiate query round trip",
      request,
      ({ version: v, stateful, before, after }) => {
        // Noise that spells one of the two names would be a repeated parameter, which reads differently by design.
        const clean = (parts: string[]) => parts.filter((p) => !/negotiateversion|usestatefulreconnect/iu.test(decodeURIComponentSafe(p)));
        const params = [...clean(before), `negotiateVersion=${v}`, ...(stateful ? ["useStatefulReconnect=true"] : []), ...clean(after)];
        assert.deepStrictEqual(parseNegotiateQuery(params.join("&")), { ok: true, version: v === 0 ? 0 : 1, statefulReconnect: stateful });
      },
      { share: 0.05, maxMsPerInput: 1000 },
    );
  });
});

function decodeURIComponentSafe(text: string): string {
  try {
    return decodeURIComponent(text.replace(/\+/g, " "));
  } catch {
    return text;
  }
}

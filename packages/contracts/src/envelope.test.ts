import { describe, expect, it } from "vitest";
import { fc } from "@tidings/fuzzing";
import { MAX_BODY_DEPTH, parseIsoDate, validateEnvelope, validateEnvelopes } from "./envelope.js";
import { TYPE_PATTERN } from "./envelope-rules.js";
import type { EnvelopeProblem, Notification } from "./envelope.js";

const NOW = new Date("2025-03-01T12:00:00.000Z");
const OPTS = { now: NOW, defaultTtlSeconds: 1800, maxNotificationBytes: 65536 };

/** The persisted example of docs/contract.md §5 / seed 002, as a producer sends it (timeStamp added per §5). */
function seedEnvelope(): Record<string, unknown> {
  return {
    id: "billing-invoice-ready-2025-01-15",
    type: "invoice-ready",
    body: { invoiceId: "INV-789", amount: 149.99, currency: "USD" },
    routing: { audienceType: 4, audienceValue: "user-123" },
    metadata: {
      producer: "billing-service",
      timeStamp: "2025-01-15T10:00:00Z",
      isPersisted: true,
      persistedTTL: "2025-02-15T00:00:00Z",
    },
  };
}

function minimal(routing: Record<string, unknown>, metadata: Record<string, unknown> = {}): Record<string, unknown> {
  return { id: "n-1", type: "t", routing, metadata: { producer: "p", ...metadata } };
}

function ok(input: unknown): Notification {
  const r = validateEnvelope(input, OPTS);
  if (!r.ok) throw new Error("expected a valid envelope, got " + JSON.stringify(r.problems));
  return r.notification;
}

function problemsOf(input: unknown): EnvelopeProblem[] {
  const r = validateEnvelope(input, OPTS);
  if (r.ok) throw new Error("expected problems, got " + JSON.stringify(r.notification));
  return r.problems;
}

describe("envelope - normalisation", () => {
  it("normalises the docs/contract.md §5 example exactly, keys in order", () => {
    const envelope = seedEnvelope();
    const n = ok(envelope);
    const expected: Notification = {
      id: "billing-invoice-ready-2025-01-15",
      type: "invoice-ready",
      body: { invoiceId: "INV-789", amount: 149.99, currency: "USD" },
      routing: { audienceType: 4, audienceValue: "user-123", tenantId: null, audienceId: "user:user-123" },
      metadata: {
        producer: "billing-service",
        timeStamp: "2025-01-15T10:00:00.000Z",
        isPersisted: true,
        persistedTTL: "2025-02-15T00:00:00.000Z",
      },
    };
    expect(n).toStrictEqual(expected);
    expect(JSON.stringify(n)).toBe(JSON.stringify(expected));
    expect(n.body).toBe(envelope["body"]); // passed through, not copied
  });

  it("fills every default of docs/contract.md §5 and drops unknown fields", () => {
    const n = ok({
      id: "a",
      type: "order-shipped",
      extra: 1,
      routing: { audienceType: 1, junk: true },
      metadata: { producer: "orders", isPersisted: true, other: "x" },
    });
    expect(n).toStrictEqual({
      id: "a",
      type: "order-shipped",
      body: null,
      routing: { audienceType: 1, audienceValue: "global", tenantId: null, audienceId: "global" },
      metadata: {
        producer: "orders",
        timeStamp: "2025-03-01T12:00:00.000Z",
        isPersisted: true,
        persistedTTL: "2025-03-01T12:30:00.000Z",
      },
    });
  });

  it("default TTL counts from the given timeStamp, not from now", () => {
    const n = ok(minimal({ audienceType: 4, audienceValue: "u" }, { timeStamp: "2025-01-01T00:00:00Z", isPersisted: true }));
    expect(n.metadata.persistedTTL).toBe("2025-01-01T00:30:00.000Z");
  });

  it("notifications validated at the same instant share its ISO form; a later instant gets its own timeStamp and default expiry", () => {
    const envelope = { id: "x", type: "t", routing: { audienceType: 1 }, metadata: { producer: "p", isPersisted: true } };
    const at = (ms: number) => {
      const r = validateEnvelope(envelope, { ...OPTS, now: new Date(ms) });
      if (!r.ok) throw new Error("invalid");
      return r.notification.metadata;
    };
    const t0 = Date.UTC(2026, 0, 2, 3, 4, 5, 6);
    expect(at(t0)).toMatchObject({ timeStamp: "2026-01-02T03:04:05.006Z", persistedTTL: "2026-01-02T03:34:05.006Z" });
    expect(at(t0)).toMatchObject({ timeStamp: "2026-01-02T03:04:05.006Z", persistedTTL: "2026-01-02T03:34:05.006Z" });
    expect(at(t0 + 1)).toMatchObject({ timeStamp: "2026-01-02T03:04:05.007Z", persistedTTL: "2026-01-02T03:34:05.007Z" });
    expect(at(t0)).toMatchObject({ timeStamp: "2026-01-02T03:04:05.006Z", persistedTTL: "2026-01-02T03:34:05.006Z" });
    expect(() => validateEnvelope(envelope, { ...OPTS, now: new Date(Number.NaN) })).toThrow(RangeError);
  });

  it("persistedTTL is null when not persisted, even if given", () => {
    const n = ok(minimal({ audienceType: 4, audienceValue: "u" }, { persistedTTL: "2030-01-01T00:00:00Z" }));
    expect(n.metadata).toStrictEqual({ producer: "p", timeStamp: "2025-03-01T12:00:00.000Z", isPersisted: false, persistedTTL: null });
  });

  it("null optional fields count as absent", () => {
    const n = ok({
      id: "a",
      type: "t",
      body: null,
      routing: { audienceType: 1, audienceValue: null, tenantId: null },
      metadata: { producer: "p", timeStamp: null, isPersisted: null, persistedTTL: null },
    });
    expect(n.body).toBeNull();
    expect(n.routing.audienceValue).toBe("global");
    expect(n.metadata).toStrictEqual({ producer: "p", timeStamp: NOW.toISOString(), isPersisted: false, persistedTTL: null });
  });

  it("keeps any JSON body untouched", () => {
    for (const body of [0, false, "", [1, { a: null }], { nested: { deep: [true] } }]) {
      expect(ok({ ...minimal({ audienceType: 1 }), body }).body).toStrictEqual(body);
    }
  });

  it("computes the audience key for every type", () => {
    expect(ok(minimal({ audienceType: 1, audienceValue: "global" })).routing.audienceId).toBe("global");
    expect(ok(minimal({ audienceType: 2, audienceValue: "acme" })).routing.audienceId).toBe("tenant:acme");
    expect(ok(minimal({ audienceType: 2, audienceValue: "acme", tenantId: "acme" })).routing).toStrictEqual({
      audienceType: 2,
      audienceValue: "acme",
      tenantId: "acme",
      audienceId: "tenant:acme",
    });
    expect(ok(minimal({ audienceType: 3, audienceValue: "ops" })).routing.audienceId).toBe("group:ops");
    expect(ok(minimal({ audienceType: 3, audienceValue: "ops:eu", tenantId: "acme" })).routing.audienceId).toBe("group:acme:ops:eu");
    expect(ok(minimal({ audienceType: 4, audienceValue: "u:1" })).routing.audienceId).toBe("user:u:1");
    expect(ok(minimal({ audienceType: 5, audienceValue: "AbC-_x" })).routing.audienceId).toBe("AbC-_x");
  });

  it("carries tenantId through for Global, User and Connection without changing the key", () => {
    const n = ok(minimal({ audienceType: 4, audienceValue: "u", tenantId: "acme" }));
    expect(n.routing).toStrictEqual({ audienceType: 4, audienceValue: "u", tenantId: "acme", audienceId: "user:u" });
  });

  it("counts characters as code points", () => {
    const emoji = "\u{1F600}";
    expect(ok({ ...minimal({ audienceType: 1 }), id: emoji.repeat(256) }).id).toHaveLength(512);
    expect(problemsOf({ ...minimal({ audienceType: 1 }), id: emoji.repeat(257) })).toStrictEqual([
      { index: 0, path: "id", message: "must be 1 to 256 characters" },
    ]);
    expect(ok({ ...minimal({ audienceType: 1 }), id: "x".repeat(256) }).id).toHaveLength(256);
  });
});

describe("envelope - problems", () => {
  it("lists every problem of one envelope with its path", () => {
    const problems = problemsOf({
      id: "",
      type: "bad type!",
      routing: { audienceType: 7, audienceValue: 12, tenantId: "a:b" },
      metadata: { producer: 5, timeStamp: "yesterday", isPersisted: "yes", persistedTTL: "2025-02-30T00:00:00Z" },
    });
    expect(problems).toStrictEqual([
      { index: 0, path: "id", message: "must be 1 to 256 characters" },
      { index: 0, path: "type", message: "may contain only letters, digits and . _ : -" },
      { index: 0, path: "routing.audienceType", message: "must be an integer from 1 to 5" },
      { index: 0, path: "routing.tenantId", message: "must not contain ':'" },
      { index: 0, path: "routing.audienceValue", message: "must be a string" },
      { index: 0, path: "metadata.producer", message: "must be a string" },
      { index: 0, path: "metadata.timeStamp", message: "must be an ISO-8601 date-time" },
      { index: 0, path: "metadata.isPersisted", message: "must be true or false" },
      { index: 0, path: "metadata.persistedTTL", message: "must be an ISO-8601 date-time" },
    ]);
  });

  it("reports missing required fields", () => {
    expect(problemsOf({})).toStrictEqual([
      { index: 0, path: "id", message: "is required" },
      { index: 0, path: "type", message: "is required" },
      { index: 0, path: "routing", message: "is required" },
      { index: 0, path: "metadata", message: "is required" },
    ]);
    expect(problemsOf({ id: "a", type: "t", routing: {}, metadata: {} })).toStrictEqual([
      { index: 0, path: "routing.audienceType", message: "is required" },
      { index: 0, path: "metadata.producer", message: "is required" },
    ]);
  });

  const cases: [string, Record<string, unknown>, string, string][] = [
    ["id not a string", { ...minimal({ audienceType: 1 }), id: 42 }, "id", "must be a string"],
    ["id too long", { ...minimal({ audienceType: 1 }), id: "x".repeat(257) }, "id", "must be 1 to 256 characters"],
    ["id with a newline", { ...minimal({ audienceType: 1 }), id: "a\r\nb" }, "id", "must not contain control characters"],
    ["type not a string", { ...minimal({ audienceType: 1 }), type: ["x"] }, "type", "must be a string"],
    ["type empty", { ...minimal({ audienceType: 1 }), type: "" }, "type", "must be 1 to 128 characters"],
    ["type too long", { ...minimal({ audienceType: 1 }), type: "t".repeat(129) }, "type", "must be 1 to 128 characters"],
    ["type with a slash", { ...minimal({ audienceType: 1 }), type: "a/b" }, "type", "may contain only letters, digits and . _ : -"],
    [
      "type reserved (read)",
      { ...minimal({ audienceType: 1 }), type: "eventreadstatuschange" },
      "type",
      "must not be a reserved event name",
    ],
    [
      "type reserved (deleted)",
      { ...minimal({ audienceType: 1 }), type: "EVENTDELETEDSTATUSCHANGE" },
      "type",
      "must not be a reserved event name",
    ],
    ["routing an array", { ...minimal({}), routing: [] }, "routing", "must be a JSON object"],
    ["metadata a string", { ...minimal({ audienceType: 1 }), metadata: "p" }, "metadata", "must be a JSON object"],
    ["audienceType a string", minimal({ audienceType: "4", audienceValue: "u" }), "routing.audienceType", "must be an integer from 1 to 5"],
    ["audienceType 0", minimal({ audienceType: 0, audienceValue: "u" }), "routing.audienceType", "must be an integer from 1 to 5"],
    ["audienceType 2.5", minimal({ audienceType: 2.5, audienceValue: "u" }), "routing.audienceType", "must be an integer from 1 to 5"],
    [
      "Global with another value",
      minimal({ audienceType: 1, audienceValue: "Global" }),
      "routing.audienceValue",
      'must be absent or "global" for a Global audience',
    ],
    ["User without value", minimal({ audienceType: 4 }), "routing.audienceValue", "is required"],
    ["Group with empty value", minimal({ audienceType: 3, audienceValue: "" }), "routing.audienceValue", "must be 1 to 256 characters"],
    [
      "User value too long",
      minimal({ audienceType: 4, audienceValue: "u".repeat(257) }),
      "routing.audienceValue",
      "must be 1 to 256 characters",
    ],
    [
      "Tenant value with ':'",
      minimal({ audienceType: 2, audienceValue: "a:b" }),
      "routing.audienceValue",
      "must not contain ':' for a Tenant audience",
    ],
    [
      "Tenant id differs",
      minimal({ audienceType: 2, audienceValue: "acme", tenantId: "other" }),
      "routing.tenantId",
      "must equal routing.audienceValue for a Tenant audience",
    ],
    [
      "plain group with ':'",
      minimal({ audienceType: 3, audienceValue: "acme:admins" }),
      "routing.audienceValue",
      "must not contain ':' unless routing.tenantId is set",
    ],
    [
      "Connection value shaped like a key",
      minimal({ audienceType: 5, audienceValue: "user:u" }),
      "routing.audienceValue",
      "must be a connection id, not another audience's key",
    ],
    [
      "Connection value global",
      minimal({ audienceType: 5, audienceValue: "global" }),
      "routing.audienceValue",
      "must be a connection id, not another audience's key",
    ],
    ["tenantId not a string", minimal({ audienceType: 3, audienceValue: "g", tenantId: 1 }), "routing.tenantId", "must be a string"],
    ["tenantId empty", minimal({ audienceType: 3, audienceValue: "g", tenantId: "" }), "routing.tenantId", "must be 1 to 256 characters"],
    ["producer empty", minimal({ audienceType: 1 }, { producer: "" }), "metadata.producer", "must be 1 to 128 characters"],
    ["producer too long", minimal({ audienceType: 1 }, { producer: "p".repeat(129) }), "metadata.producer", "must be 1 to 128 characters"],
    [
      "timeStamp a number",
      minimal({ audienceType: 1 }, { timeStamp: 1736935200000 }),
      "metadata.timeStamp",
      "must be an ISO-8601 date-time",
    ],
    ["isPersisted a string", minimal({ audienceType: 1 }, { isPersisted: "true" }), "metadata.isPersisted", "must be true or false"],
    [
      "persistedTTL garbage",
      minimal({ audienceType: 1 }, { isPersisted: true, persistedTTL: "soon" }),
      "metadata.persistedTTL",
      "must be an ISO-8601 date-time",
    ],
  ];
  it.each(cases)("%s", (_name, envelope, path, message) => {
    expect(problemsOf(envelope)).toStrictEqual([{ index: 0, path, message }]);
  });

  it("refuses anything but an object", () => {
    for (const input of [null, undefined, "hi", 5, true, new Date(0), new Uint8Array(2)]) {
      expect(problemsOf(input)).toStrictEqual([{ index: 0, path: "", message: "must be a JSON object" }]);
    }
    expect(problemsOf([seedEnvelope()])).toStrictEqual([{ index: 0, path: "", message: "must be a JSON object" }]);
  });

  it("refuses a body that is not JSON data", () => {
    for (const body of [{ n: 1n }, [Number.NaN], { when: new Date(0) }, { bytes: new Uint8Array(2) }]) {
      expect(problemsOf({ ...minimal({ audienceType: 1 }), body })).toStrictEqual([
        { index: 0, path: "body", message: "must be JSON data (strings, finite numbers, booleans, null, arrays, objects)" },
      ]);
    }
  });
});

function nestedArrays(depth: number): unknown {
  let value: unknown = [];
  for (let i = 1; i < depth; i++) value = [value];
  return value;
}

describe("envelope - storable in Postgres and encodable in every protocol", () => {
  it("finding 1: refuses a body nested deeper than 64 levels, accepts 64", () => {
    expect(ok({ ...minimal({ audienceType: 1 }), body: nestedArrays(64) }).body).toStrictEqual(nestedArrays(64));
    expect(problemsOf({ ...minimal({ audienceType: 1 }), body: nestedArrays(65) })).toStrictEqual([
      { index: 0, path: "body", message: "must nest at most 64 levels deep" },
    ]);
    // Deeper than JSON.stringify can recurse: refused without overflowing the stack.
    expect(problemsOf({ ...minimal({ audienceType: 1 }), body: nestedArrays(200_000) })).toStrictEqual([
      { index: 0, path: "body", message: "must nest at most 64 levels deep" },
    ]);
  });

  it("finding 6: refuses NUL in audienceValue, tenantId, producer and anywhere in body", () => {
    const nul = "a\u0000b";
    expect(problemsOf(minimal({ audienceType: 4, audienceValue: nul }))).toStrictEqual([
      { index: 0, path: "routing.audienceValue", message: "must not contain NUL (U+0000) characters" },
    ]);
    expect(problemsOf(minimal({ audienceType: 3, audienceValue: "g", tenantId: nul }))).toStrictEqual([
      { index: 0, path: "routing.tenantId", message: "must not contain NUL (U+0000) characters" },
    ]);
    expect(problemsOf(minimal({ audienceType: 1 }, { producer: nul }))).toStrictEqual([
      { index: 0, path: "metadata.producer", message: "must not contain NUL (U+0000) characters" },
    ]);
    expect(problemsOf({ ...minimal({ audienceType: 1 }), id: nul })).toStrictEqual([
      { index: 0, path: "id", message: "must not contain control characters" },
    ]);
    expect(problemsOf({ ...minimal({ audienceType: 1 }), type: nul })).toStrictEqual([
      { index: 0, path: "type", message: "may contain only letters, digits and . _ : -" },
    ]);
    for (const body of [nul, { deep: [{ text: nul }] }, { [nul]: 1 }]) {
      expect(problemsOf({ ...minimal({ audienceType: 1 }), body })).toStrictEqual([
        { index: 0, path: "body", message: "must not contain NUL (U+0000) characters in any string or key" },
      ]);
    }
    // Other control characters are data: JSON, jsonb and both hub protocols carry them.
    expect(ok({ ...minimal({ audienceType: 1 }), body: { text: "line\nbreak\u0001" } }).body).toStrictEqual({ text: "line\nbreak\u0001" });
  });

  it("refuses an unpaired surrogate anywhere in body (jsonb refuses it: accepted, it could never be stored) and in the other strings (no UTF-8 for MessagePack); pairs are accepted", () => {
    for (const lone of ["\ud800", "a\udfffb", "\ude00\ud83d"]) {
      for (const body of [lone, { deep: [{ text: lone }] }, { [lone]: 1 }]) {
        expect(problemsOf({ ...minimal({ audienceType: 1 }), body })).toStrictEqual([
          { index: 0, path: "body", message: "must not contain unpaired surrogates (U+D800 to U+DFFF) in any string or key" },
        ]);
      }
    }
    const unpaired = "a\udc00";
    expect(problemsOf({ ...minimal({ audienceType: 4, audienceValue: unpaired }, { producer: unpaired }), id: unpaired })).toStrictEqual([
      { index: 0, path: "id", message: "must not contain unpaired surrogates (U+D800 to U+DFFF)" },
      { index: 0, path: "routing.audienceValue", message: "must not contain unpaired surrogates (U+D800 to U+DFFF)" },
      { index: 0, path: "metadata.producer", message: "must not contain unpaired surrogates (U+D800 to U+DFFF)" },
    ]);
    expect(problemsOf(minimal({ audienceType: 3, audienceValue: "g", tenantId: unpaired }))).toStrictEqual([
      { index: 0, path: "routing.tenantId", message: "must not contain unpaired surrogates (U+D800 to U+DFFF)" },
    ]);
    // As JSON.parse reads the escapes a producer sends.
    const parsed = JSON.parse(
      '{"id":"s","type":"t","body":{"t":"\\ud800"},"routing":{"audienceType":1},"metadata":{"producer":"p"}}',
    ) as unknown;
    expect(problemsOf(parsed)).toHaveLength(1);
    expect(ok({ ...minimal({ audienceType: 1 }), body: { "\ud83d\ude00": "\ud83d\ude00" } }).body).toStrictEqual({ "😀": "😀" });
  });
});

describe("envelope - bodies every protocol can deliver", () => {
  // Found by fuzzing: accepted with 202, then every stock MessagePack client it reached disconnected
  // ("The key __proto__ is not allowed"), and again on each replay.
  it('refuses a body with a "__proto__" key at any depth', () => {
    for (const body of ['{"__proto__":1}', '[{"a":{"__proto__":{"x":1}}}]', '{"a":[[{"__proto__":null}]]}']) {
      const envelope = JSON.parse(
        `{"id":"n-1","type":"t","body":${body},"routing":{"audienceType":1},"metadata":{"producer":"p"}}`,
      ) as unknown;
      expect(problemsOf(envelope)).toStrictEqual([{ index: 0, path: "body", message: 'must not contain the key "__proto__"' }]);
    }
    expect(ok({ ...minimal({ audienceType: 1 }), body: { proto: 1, constructor: 2, nested: [{ prototype: 3 }] } }).body).toStrictEqual({
      proto: 1,
      constructor: 2,
      nested: [{ prototype: 3 }],
    });
    const wide = validateEnvelope(
      { ...minimal({ audienceType: 1 }), body: new Array(1_000_000).fill([{}]) },
      { ...OPTS, maxNotificationBytes: 1 << 23 },
    );
    expect(wide.ok).toBe(true); // a million-element array is walked without overflowing the stack
  });
});

describe("envelope - size limit", () => {
  it("measures the envelope as UTF-8 JSON when no size is given", () => {
    const envelope = { ...minimal({ audienceType: 1 }), body: "é" };
    const bytes = Buffer.byteLength(JSON.stringify(envelope), "utf8");
    expect(validateEnvelope(envelope, { ...OPTS, maxNotificationBytes: bytes }).ok).toBe(true);
    expect(validateEnvelope(envelope, { ...OPTS, maxNotificationBytes: bytes - 1 })).toStrictEqual({
      ok: false,
      problems: [{ index: 0, path: "", message: `must be at most ${bytes - 1} bytes, not ${bytes}` }],
    });
  });

  it("uses the size as received when given", () => {
    const envelope = minimal({ audienceType: 1 });
    expect(validateEnvelope(envelope, { ...OPTS, byteLength: 65537 })).toStrictEqual({
      ok: false,
      problems: [{ index: 0, path: "", message: "must be at most 65536 bytes, not 65537" }],
    });
    expect(validateEnvelope(envelope, { ...OPTS, byteLength: 65536 }).ok).toBe(true);
    expect(validateEnvelopes([envelope, envelope], { ...OPTS, sizes: [10, 70000] })).toStrictEqual({
      ok: false,
      problems: [{ index: 1, path: "", message: "must be at most 65536 bytes, not 70000" }],
    });
  });

  it("lists the size problem together with field problems", () => {
    const r = validateEnvelope({ ...minimal({ audienceType: 9 }), body: "x".repeat(100) }, { ...OPTS, maxNotificationBytes: 50 });
    expect(r.ok).toBe(false);
    expect(r.ok ? [] : r.problems.map((p) => p.path)).toStrictEqual(["routing.audienceType", ""]);
  });
});

describe("envelope - batches", () => {
  const valid = (i: number) => ({ ...minimal({ audienceType: 4, audienceValue: "u" + i }), id: "id-" + i });

  it("accepts one envelope or an array, keeping order", () => {
    const single = validateEnvelopes(valid(0), OPTS);
    expect(single.ok && single.notifications.map((n) => n.id)).toStrictEqual(["id-0"]);
    const many = validateEnvelopes([valid(0), valid(1), valid(2)], OPTS);
    expect(many.ok && many.notifications.map((n) => n.routing.audienceId)).toStrictEqual(["user:u0", "user:u1", "user:u2"]);
  });

  it("is all-or-nothing and lists every problem of every envelope with its index", () => {
    const r = validateEnvelopes([valid(0), { ...valid(1), id: 7 }, valid(2), { ...valid(3), type: "", metadata: {} }, "x"], OPTS);
    expect(r).toStrictEqual({
      ok: false,
      problems: [
        { index: 1, path: "id", message: "must be a string" },
        { index: 3, path: "type", message: "must be 1 to 128 characters" },
        { index: 3, path: "metadata.producer", message: "is required" },
        { index: 4, path: "", message: "must be a JSON object" },
      ],
    });
  });

  it("problems of a single (non-array) envelope have index 0", () => {
    expect(validateEnvelopes({ ...valid(0), id: null }, OPTS)).toStrictEqual({
      ok: false,
      problems: [{ index: 0, path: "id", message: "is required" }],
    });
  });

  it("accepts 1000 envelopes and refuses 1001 as a batch problem", () => {
    const thousand = Array.from({ length: 1000 }, (_, i) => valid(i));
    const r = validateEnvelopes(thousand, OPTS);
    expect(r.ok && r.notifications.length).toBe(1000);
    expect(validateEnvelopes([...thousand, valid(1000)], OPTS)).toStrictEqual({
      ok: false,
      problems: [{ index: -1, path: "", message: "must hold at most 1000 envelopes, not 1001" }],
    });
    expect(validateEnvelopes([valid(0), valid(1), valid(2)], { ...OPTS, maxBatch: 2 }).ok).toBe(false);
  });

  it("accepts an empty array as nothing to do", () => {
    expect(validateEnvelopes([], OPTS)).toStrictEqual({ ok: true, notifications: [] });
  });
});

describe("envelope - dates", () => {
  const ts = (timeStamp: unknown) => ok(minimal({ audienceType: 1 }, { timeStamp })).metadata.timeStamp;

  it("normalises ISO-8601 forms to toISOString()", () => {
    expect(ts("2025-01-15T10:00:00Z")).toBe("2025-01-15T10:00:00.000Z");
    expect(ts("2025-01-15T10:00:00+01:00")).toBe("2025-01-15T09:00:00.000Z");
    expect(ts("2025-01-15T10:00:00-0230")).toBe("2025-01-15T12:30:00.000Z");
    expect(ts("2025-01-15T10:00:00.1234567Z")).toBe("2025-01-15T10:00:00.123Z");
    expect(ts("2025-01-15t10:00z")).toBe("2025-01-15T10:00:00.000Z");
    expect(ts("2025-01-15 10:00:00")).toBe("2025-01-15T10:00:00.000Z"); // no offset: UTC
    expect(ts("2025-01-15")).toBe("2025-01-15T00:00:00.000Z");
    expect(ts("2024-02-29T00:00:00Z")).toBe("2024-02-29T00:00:00.000Z");
    expect(ts("0050-06-01T00:00:00Z")).toBe("0050-06-01T00:00:00.000Z");
    expect(ts(new Date("2025-01-15T10:00:00Z"))).toBe("2025-01-15T10:00:00.000Z");
  });

  it("refuses dates and times that do not exist", () => {
    for (const bad of [
      "2025-02-29",
      "2025-13-01",
      "2025-04-31T00:00Z",
      "2025-01-15T24:00:00Z",
      "2025-01-15T10:60Z",
      "2025-01-15T10:00:60Z",
      "2025-01-15T10:00:00+25:00",
      "15/01/2025",
      "2025-1-5",
      "",
      "2025-01-15T10:00:00ZZ",
      new Date(Number.NaN),
    ]) {
      expect(Number.isNaN(parseIsoDate(bad)), String(bad)).toBe(true);
    }
  });

  // Found by fuzzing: these normalised to "0000-…", "-000001-…" or "+010000-…", which this parser
  // refuses on the way back and PostgreSQL refuses to store.
  it("refuses instants outside the years 0001 to 9999 UTC", () => {
    for (const bad of ["0000-06-01", "0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00", new Date("+010000-01-01T00:00:00Z")]) {
      expect(Number.isNaN(parseIsoDate(bad)), String(bad)).toBe(true);
    }
    expect(ts("0001-01-01T00:00:00Z")).toBe("0001-01-01T00:00:00.000Z");
    expect(ts("9999-12-31T23:59:59.999Z")).toBe("9999-12-31T23:59:59.999Z");
  });

  it("caps a default expiry that would pass 9999-12-31T23:59:59.999Z there, so the notification validates again as it is", () => {
    const n = ok(minimal({ audienceType: 4, audienceValue: "u" }, { timeStamp: "9999-12-31T23:45:00Z", isPersisted: true }));
    expect(n.metadata.persistedTTL).toBe("9999-12-31T23:59:59.999Z");
    const again = validateEnvelope({ id: n.id, type: n.type, routing: n.routing, metadata: n.metadata }, OPTS);
    expect(again.ok && again.notification).toStrictEqual(n);
    const far = validateEnvelope(minimal({ audienceType: 4, audienceValue: "u" }, { isPersisted: true }), {
      ...OPTS,
      defaultTtlSeconds: 1e15,
    });
    expect(far.ok && far.notification.metadata.persistedTTL).toBe("9999-12-31T23:59:59.999Z");
  });
});

describe("envelope - the checks written as loops keep the rules they replaced", () => {
  const typeProblem = (type: string) => {
    const r = validateEnvelope({ ...minimal({ audienceType: 1 }), type }, OPTS);
    return r.ok ? null : (r.problems.find((p) => p.path === "type")?.message ?? null);
  };

  it("refuses a type's characters exactly when TYPE_PATTERN does not match it", () => {
    const pattern = new RegExp(TYPE_PATTERN);
    const char = fc.oneof(
      fc.constantFrom(..."azAZ09._:-/@[`{ \n\u0000\u00e9\u212a"),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.array(char, { minLength: 1, maxLength: 12 }), (chars) => {
        const type = chars.join("");
        if (type.length > 128) return;
        expect(typeProblem(type) === "may contain only letters, digits and . _ : -").toBe(!pattern.test(type));
      }),
      { numRuns: 2000 },
    );
    expect(typeProblem("eventreadstatuschange")).toBe("must not be a reserved event name");
    expect(typeProblem("EventReadStatusChangeX")).toBeNull();
  });

  it('reports a "__proto__" key only when the body is otherwise deliverable, as the separate pass after the data check did', () => {
    // a body with a "__proto__" key somewhere, and perhaps a NUL, a non-finite number or too deep a nesting elsewhere
    const fault = fc.constantFrom('"ok"', '"a\\u0000"', "1e999", "[".repeat(MAX_BODY_DEPTH + 1) + "1" + "]".repeat(MAX_BODY_DEPTH + 1));
    fc.assert(
      fc.property(fault, fc.boolean(), fc.boolean(), (other, protoFirst, nested) => {
        const proto = nested ? '{"x":[{"__proto__":1}]}' : '{"__proto__":1}';
        const body = protoFirst ? `[${proto},${other}]` : `[${other},${proto}]`;
        const envelope = JSON.parse(
          `{"id":"n-1","type":"t","body":${body},"routing":{"audienceType":1},"metadata":{"producer":"p"}}`,
        ) as unknown;
        const expected =
          other === '"ok"'
            ? 'must not contain the key "__proto__"'
            : other === "1e999"
              ? "must be JSON data (strings, finite numbers, booleans, null, arrays, objects)"
              : other.startsWith("[")
                ? `must nest at most ${MAX_BODY_DEPTH} levels deep`
                : "must not contain NUL (U+0000) characters in any string or key";
        expect(problemsOf(envelope)).toStrictEqual([{ index: 0, path: "body", message: expected }]);
      }),
    );
  });
});

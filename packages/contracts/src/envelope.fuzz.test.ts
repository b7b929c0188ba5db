import assert from "node:assert/strict";
import { fc, fuzz } from "@tidings/fuzzing";
import { describe, it } from "vitest";
import { audienceKey, parseAudienceRequest, type AudienceRequest } from "./audience.js";
import { HubEvents } from "./delivered.js";
import { validateEnvelope, validateEnvelopes, type Notification } from "./envelope.js";
import { HubMethodError } from "./hub-errors.js";

/*
 * Property-based fuzzing of what producers and clients hand the contract layer: envelopes (alone and
 * in batches) and Subscribe arguments. Audience values come from a tiny alphabet with ':' and the key
 * prefixes, so that distinct audiences whose keys could collide are generated often.
 */

const NOW = new Date("2026-01-15T10:00:00.000Z");
const OPTIONS = { now: NOW, defaultTtlSeconds: 3600, maxNotificationBytes: 1 << 20 };

const PATHS = new Set(["", "id", "type", "routing", "routing.audienceType", "routing.audienceValue", "routing.tenantId", "metadata", "metadata.producer", "metadata.timeStamp", "metadata.isPersisted", "metadata.persistedTTL"]);

const junk = fc.oneof(fc.jsonValue({ maxDepth: 2, size: "xsmall" }), fc.constant(undefined));
const audienceText = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^(|global|tenant:|group:|user:)[ab:]{0,4}$/u) },
  { weight: 8, arbitrary: fc.stringMatching(/^[ab]{1,3}$/u) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 255, maxLength: 260 }) },
);
const isoDate = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: junk },
  { weight: 3, arbitrary: fc.date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true }).map((d) => d.toISOString()) },
  { weight: 1, arbitrary: fc.stringMatching(/^\d{4}-[01]\d-[0-3]\d([T ][0-2]\d:[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-][01]\d:?[0-5]\d)?)?$/u) },
);

function maybe<T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 30, arbitrary: good }, { weight: 1, arbitrary: junk });
}

/** Envelopes that are valid about half of the time, each field sometimes absent or of the wrong type. */
const tenantId = fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constant(null) }, { weight: 3, arbitrary: fc.stringMatching(/^[ab]{1,3}$/u) }, { weight: 1, arbitrary: audienceText }, { weight: 1, arbitrary: junk });
const envelope = fc.record({
  id: maybe(fc.oneof({ weight: 5, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) }, { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 260 }) })),
  type: maybe(fc.oneof({ weight: 5, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/u) }, fc.constantFrom(HubEvents.ReadStatusChange, HubEvents.DeletedStatusChange.toLowerCase(), "ReadStatusChange"), fc.string({ maxLength: 130 }))),
  body: junk,
  routing: maybe(fc.record({ audienceType: maybe(fc.integer({ min: 1, max: 5 })), audienceValue: maybe(audienceText), tenantId, extra: junk })),
  metadata: maybe(
    fc.record({
      producer: maybe(fc.string({ minLength: 1, maxLength: 130 })),
      timeStamp: isoDate,
      isPersisted: maybe(fc.oneof(fc.boolean(), fc.constant(undefined))),
      persistedTTL: isoDate,
      extra: junk,
    }),
  ),
});
const anyInput = fc.oneof({ weight: 5, arbitrary: envelope }, { weight: 1, arbitrary: junk });

function checkNotification(n: Notification): void {
  assert.ok(n.id.length >= 1 && [...n.id].length <= 256 && !/[\u0000-\u001f\u007f]/u.test(n.id));
  assert.match(n.type, /^[A-Za-z0-9._:-]{1,128}$/u);
  assert.ok(![HubEvents.ReadStatusChange, HubEvents.DeletedStatusChange].some((event) => event.toLowerCase() === n.type.toLowerCase()));
  const { audienceType, audienceValue, tenantId, audienceId } = n.routing;
  assert.equal(audienceId, audienceKey(audienceType, audienceValue, tenantId));
  if (audienceType === 1) assert.equal(audienceValue, "global");
  if (tenantId !== null) assert.ok(!tenantId.includes(":"));
  assert.equal(new Date(n.metadata.timeStamp).toISOString(), n.metadata.timeStamp);
  assert.equal(n.metadata.persistedTTL === null, !n.metadata.isPersisted);
  if (n.metadata.persistedTTL !== null) assert.equal(new Date(n.metadata.persistedTTL).toISOString(), n.metadata.persistedTTL);
}

/** The audience as its members see it: tenant scope matters only for groups. */
function identity(n: Notification): string {
  const { audienceType, audienceValue, tenantId } = n.routing;
  return JSON.stringify([audienceType, audienceValue, audienceType === 3 ? tenantId : null]);
}

describe("envelope validation fuzz", () => {
  it("validates any producer input without throwing: a normalised notification or problems at documented paths", async () => {
    await fuzz("envelope validation", anyInput, (input) => {
      const result = validateEnvelope(input, OPTIONS);
      if (result.ok) return checkNotification(result.notification);
      assert.ok(result.problems.length > 0);
      for (const p of result.problems) {
        assert.equal(p.index, 0);
        assert.ok(PATHS.has(p.path), p.path);
        assert.ok(p.message.length > 0);
      }
    }, { share: 0.06, maxMsPerInput: 1000 });
  });

  it("accepts its own output again unchanged (validation is idempotent)", async () => {
    await fuzz("envelope idempotence", envelope, (input) => {
      const first = validateEnvelope(input, OPTIONS);
      if (!first.ok) return;
      const n = first.notification;
      const again = validateEnvelope({ id: n.id, type: n.type, body: n.body, routing: n.routing, metadata: n.metadata }, OPTIONS);
      assert.deepStrictEqual(again, first);
    }, { share: 0.04, maxMsPerInput: 1000 });
  });

  it("accepts a batch all or nothing: exactly when every envelope is valid alone, with problems indexed by position", async () => {
    await fuzz("envelope batch", fc.array(anyInput, { maxLength: 6 }), (batch) => {
      const alone = batch.map((e) => validateEnvelope(e, OPTIONS));
      const result = validateEnvelopes(batch, OPTIONS);
      if (result.ok) {
        assert.ok(alone.every((r) => r.ok));
        assert.deepStrictEqual(result.notifications, alone.map((r) => (r.ok ? r.notification : null)));
      } else {
        assert.ok(alone.some((r) => !r.ok));
        const expected = alone.flatMap((r, index) => (r.ok ? [] : r.problems.map((p) => ({ ...p, index }))));
        assert.deepStrictEqual(result.problems, expected);
      }
    }, { share: 0.03, maxMsPerInput: 1000 });
  });

  it("never gives two different audiences the same key", async () => {
    await fuzz("audience key injectivity", fc.tuple(envelope, envelope), ([a, b]) => {
      const x = validateEnvelope(a, OPTIONS);
      const y = validateEnvelope(b, OPTIONS);
      if (!x.ok || !y.ok) return;
      assert.equal(x.notification.routing.audienceId === y.notification.routing.audienceId, identity(x.notification) === identity(y.notification));
    }, { share: 0.03, maxMsPerInput: 1000 });
  });
});

describe("Subscribe argument fuzz", () => {
  const argument = fc.oneof(
    { weight: 5, arbitrary: fc.record({ audienceType: maybe(fc.integer({ min: 0, max: 6 })), audienceValue: maybe(audienceText), tenantId: maybe(fc.oneof(audienceText, fc.constant(null))), AudienceType: junk }, { requiredKeys: [] }) },
    { weight: 1, arbitrary: junk },
  );

  it("refuses a bad Subscribe argument only with a HubMethodError, and keys audiences exactly as envelopes do", async () => {
    await fuzz("subscribe argument", fc.tuple(argument, envelope), ([arg, env]) => {
      let request: AudienceRequest;
      try {
        request = parseAudienceRequest(arg);
      } catch (error) {
        assert.ok(error instanceof HubMethodError, String(error));
        assert.ok(error.code === "WrongInput" || error.code === "NotSupported");
        return;
      }
      assert.equal(request.key, audienceKey(request.audienceType, request.audienceValue, request.tenantId));
      // A subscription reaches a notification exactly when they name the same audience.
      const published = validateEnvelope(env, OPTIONS);
      if (!published.ok) return;
      const r = published.notification.routing;
      const same = r.audienceType === request.audienceType && r.audienceValue === request.audienceValue && (r.audienceType === 2 || r.tenantId === request.tenantId);
      assert.equal(r.audienceId === request.key, same);
    }, { share: 0.04, maxMsPerInput: 1000 });
  });
});

import assert from "node:assert/strict";
import { envelope, fc, fuzz, fuzzTimeoutMs, audienceText, jsonJunk as junk, maybe } from "@tidings/fuzzing";
import { describe, it } from "vitest";
import { audienceKey, parseAudienceRequest, type AudienceRequest } from "./audience.js";
import { HubEvents } from "./hub-events.js";
import { validateEnvelope, validateEnvelopes, type Notification } from "./envelope.js";
import { HubMethodError } from "./hub-errors.js";

/*
 * Property-based fuzzing of what producers and clients hand the contract layer: envelopes (alone and
 * in batches) and Subscribe arguments.
 */

const NOW = new Date("2026-01-15T10:00:00.000Z");
const OPTIONS = { now: NOW, defaultTtlSeconds: 3600, maxNotificationBytes: 1 << 20 };

const PATHS = new Set([
  "",
  "body",
  "id",
  "type",
  "routing",
  "routing.audienceType",
  "routing.audienceValue",
  "routing.tenantId",
  "metadata",
  "metadata.producer",
  "metadata.timeStamp",
  "metadata.isPersisted",
  "metadata.persistedTTL",
]);

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

describe("envelope validation fuzz", { timeout: fuzzTimeoutMs() }, () => {
  it("validates any producer input without throwing: a normalised notification or problems at documented paths", async () => {
    await fuzz(
      "envelope validation",
      anyInput,
      (input) => {
        const result = validateEnvelope(input, OPTIONS);
        if (result.ok) return checkNotification(result.notification);
        assert.ok(result.problems.length > 0);
        for (const p of result.problems) {
          assert.equal(p.index, 0);
          assert.ok(PATHS.has(p.path), p.path);
          assert.ok(p.message.length > 0);
        }
      },
      { share: 0.1, maxMsPerInput: 1000 },
    );
  });

  it("accepts its own output again unchanged (validation is idempotent)", async () => {
    await fuzz(
      "envelope idempotence",
      envelope,
      (input) => {
        const first = validateEnvelope(input, OPTIONS);
        if (!first.ok) return;
        const n = first.notification;
        const again = validateEnvelope({ id: n.id, type: n.type, body: n.body, routing: n.routing, metadata: n.metadata }, OPTIONS);
        assert.deepStrictEqual(again, first);
      },
      { share: 0.04, maxMsPerInput: 1000 },
    );
  });

  it("accepts a batch all or nothing: exactly when every envelope is valid alone, with problems indexed by position", async () => {
    await fuzz(
      "envelope batch",
      fc.array(anyInput, { maxLength: 6 }),
      (batch) => {
        const alone = batch.map((e) => validateEnvelope(e, OPTIONS));
        const result = validateEnvelopes(batch, OPTIONS);
        if (result.ok) {
          assert.ok(alone.every((r) => r.ok));
          assert.deepStrictEqual(
            result.notifications,
            alone.map((r) => (r.ok ? r.notification : null)),
          );
        } else {
          assert.ok(alone.some((r) => !r.ok));
          const expected = alone.flatMap((r, index) => (r.ok ? [] : r.problems.map((p) => ({ ...p, index }))));
          assert.deepStrictEqual(result.problems, expected);
        }
      },
      { share: 0.05, maxMsPerInput: 1000 },
    );
  });

  it("never gives two different audiences the same key", async () => {
    await fuzz(
      "audience key injectivity",
      fc.tuple(envelope, envelope),
      ([a, b]) => {
        const x = validateEnvelope(a, OPTIONS);
        const y = validateEnvelope(b, OPTIONS);
        if (!x.ok || !y.ok) return;
        assert.equal(
          x.notification.routing.audienceId === y.notification.routing.audienceId,
          identity(x.notification) === identity(y.notification),
        );
      },
      { share: 0.05, maxMsPerInput: 1000 },
    );
  });
});

describe("Subscribe argument fuzz", { timeout: fuzzTimeoutMs() }, () => {
  const argument = fc.oneof(
    {
      weight: 5,
      arbitrary: fc.record(
        {
          audienceType: maybe(fc.integer({ min: 0, max: 6 })),
          audienceValue: maybe(audienceText),
          tenantId: maybe(fc.oneof(audienceText, fc.constant(null))),
          AudienceType: junk,
        },
        { requiredKeys: [] },
      ),
    },
    { weight: 1, arbitrary: junk },
  );

  it("refuses a bad Subscribe argument only with a HubMethodError, and keys audiences exactly as envelopes do", async () => {
    await fuzz(
      "subscribe argument",
      fc.tuple(argument, envelope),
      ([arg, env]) => {
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
        const same =
          r.audienceType === request.audienceType &&
          r.audienceValue === request.audienceValue &&
          (r.audienceType === 2 || r.tenantId === request.tenantId);
        assert.equal(r.audienceId === request.key, same);
      },
      { share: 0.06, maxMsPerInput: 1000 },
    );
  });
});

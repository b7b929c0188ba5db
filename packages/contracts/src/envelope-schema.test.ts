import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { Ajv } from "ajv";
import { parse } from "yaml";
import { describe, expect, it } from "vitest";
import { generatedDocuments } from "../scripts/documents.js";
import { envelopeBatchJsonSchema, envelopeJsonSchema } from "./envelope-schema.js";
import { parseIsoDate, validateEnvelope, validateEnvelopes } from "./envelope.js";
import { MAX_BODY_DEPTH } from "./envelope-rules.js";
import { subjects } from "./subjects.js";
import { checkJsonData } from "./text.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const options = { now: new Date("2026-01-01T00:00:00Z"), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 };

const ajv = new Ajv({ allErrors: true, strict: true });
ajv.addSchema(envelopeJsonSchema());
const schemaAccepts = ajv.compile(envelopeBatchJsonSchema());
const validatorAccepts = (v: unknown) => validateEnvelope(v, options).ok;

const base = (audienceType: number): Record<string, unknown> => ({
  id: "n-1",
  type: "invoice-ready",
  body: { amount: 3 },
  routing: { audienceType, ...(audienceType === 1 ? {} : { audienceValue: `value-${audienceType}` }) },
  metadata: { producer: "billing" },
});

/**
 * Rules the schema cannot state (VALIDATOR_ONLY_RULES): a Tenant's tenantId different from its value, a
 * date naming a day that does not exist, a body too deep or with NUL, an unpaired surrogate. Samples are kept far below the
 * byte limit.
 */
function breaksValidatorOnlyRule(v: unknown): boolean {
  const e = v as { body?: unknown; routing?: Record<string, unknown>; metadata?: Record<string, unknown> };
  const r = e?.routing;
  const tenantMismatch =
    r?.["audienceType"] === 2 &&
    typeof r["tenantId"] === "string" &&
    typeof r["audienceValue"] === "string" &&
    r["tenantId"] !== r["audienceValue"];
  const impossibleDay = [e?.metadata?.["timeStamp"], e?.metadata?.["persistedTTL"]].some(
    (d) => typeof d === "string" && /^\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])/.test(d) && Number.isNaN(parseIsoDate(d)),
  );
  const badBody =
    e?.body !== undefined && (checkJsonData(e.body, MAX_BODY_DEPTH) !== null || JSON.stringify(e.body).includes('"__proto__":'));
  const unpaired = [(v as { id?: unknown })?.id, r?.["audienceValue"], r?.["tenantId"], e?.metadata?.["producer"]].some(
    (s) => typeof s === "string" && !s.isWellFormed(),
  );
  return tenantMismatch || impossibleDay || badBody || unpaired;
}

/** An array nested `depth` levels deep, counting itself. */
function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = [v];
  return v;
}

describe("envelope JSON Schema and AsyncAPI document", () => {
  it("the committed docs/schema/*.json and docs/asyncapi.yaml are what `pnpm schema:docs` generates", () => {
    for (const [file, content] of Object.entries(generatedDocuments())) {
      expect(readFileSync(root + file, "utf8"), `${file} is stale: run pnpm schema:docs`).toBe(content);
    }
  });

  it("the AsyncAPI document names the subjects the code uses and references the envelope schema", () => {
    const doc = parse(generatedDocuments()["docs/asyncapi.yaml"]!);
    expect(doc.channels.notify.address).toBe(subjects.notify("{suffix}"));
    expect(doc.channels.deadLetter.address).toBe(subjects.deadLetter);
    expect(doc.components.messages.envelope.payload.schema.$ref).toBe("schema/envelope.schema.json");
    expect(readFileSync(root + "docs/schema/envelope.schema.json", "utf8")).toContain('"$id": "envelope.schema.json"');
  });

  it("agrees with the validator on hand-written valid and invalid envelopes and batches", () => {
    const samples: [string, unknown, boolean][] = [
      [
        "every field",
        {
          ...base(3),
          routing: { audienceType: 3, audienceValue: "ops", tenantId: "acme" },
          metadata: { producer: "p", timeStamp: "2025-01-15T10:00:00+01:00", isPersisted: true, persistedTTL: "2025-01-16" },
        },
        true,
      ],
      ["global without value", base(1), true],
      ["global with value global", { ...base(1), routing: { audienceType: 1, audienceValue: "global" } }, true],
      ["unknown fields", { ...base(4), extra: 1, routing: { audienceType: 4, audienceValue: "u", x: 1 } }, true],
      ["tenant-scoped group with ':'", { ...base(3), routing: { audienceType: 3, audienceValue: "a:b", tenantId: "t" } }, true],
      ["an emoji id of 256 characters", { ...base(4), id: "😀".repeat(256) }, true],
      ["an empty batch", [], true],
      ["a batch of two", [base(1), base(4)], true],
      ["missing id", { ...base(4), id: undefined }, false],
      ["reserved type in another case", { ...base(4), type: "eventREADstatuschange" }, false],
      ["type with a space", { ...base(4), type: "a b" }, false],
      ["audienceType 6", { ...base(4), routing: { audienceType: 6, audienceValue: "x" } }, false],
      ["user without value", { ...base(4), routing: { audienceType: 4 } }, false],
      ["global with another value", { ...base(1), routing: { audienceType: 1, audienceValue: "everyone" } }, false],
      ["tenant value with ':'", { ...base(2), routing: { audienceType: 2, audienceValue: "a:b" } }, false],
      ["plain group with ':'", { ...base(3), routing: { audienceType: 3, audienceValue: "a:b" } }, false],
      ["connection shaped like a user key", { ...base(5), routing: { audienceType: 5, audienceValue: "user:bob" } }, false],
      ["id with a control character", { ...base(4), id: "a\nb" }, false],
      ["producer of 129 characters", { ...base(4), metadata: { producer: "p".repeat(129) } }, false],
      ["hour 24", { ...base(4), metadata: { producer: "p", timeStamp: "2025-01-15T24:00:00Z" } }, false],
      ["isPersisted as a string", { ...base(4), metadata: { producer: "p", isPersisted: "true" } }, false],
      ["a batch with one bad envelope", [base(1), { ...base(4), type: "" }], false],
      ["a batch of 1001", Array.from({ length: 1001 }, () => base(1)), false],
      ["a string", "envelope", false],
    ];
    for (const [name, sample, valid] of samples) {
      expect(validateEnvelopes(sample, options).ok, `validator: ${name}`).toBe(valid);
      expect(schemaAccepts(sample), `schema: ${name}`).toBe(valid);
    }
  });

  it("agrees with the validator on 20,000 generated envelopes, except exactly where a rule only the validator checks is broken", () => {
    const dates = [
      "2025-01-15",
      "2025-01-15T10:00:00Z",
      "2025-01-15t10:00:00.123456789+01:00",
      "2025-01-15 10:00",
      "2025-01-15T10:00:00+0100",
      "2024-02-29",
      "2023-02-29",
      "2025-04-31",
      "2025-13-01",
      "2025-01-15T23:60:00Z",
      "2025-01-15T10:00:00+24:00",
      "2025-01-15T10",
      "yesterday",
      "",
      12345,
      null,
      undefined,
    ];
    const pools: Record<string, unknown[]> = {
      id: ["x", "", "i".repeat(256), "i".repeat(257), "😀".repeat(257), "a\u0001b", "a\u007fb", "ä", 5, {}, null, undefined],
      type: [
        "a.b_c:d-e",
        "",
        "t".repeat(128),
        "t".repeat(129),
        "has space",
        "EventReadStatusChange",
        "EVENTDELETEDSTATUSCHANGE",
        "EventReadStatusChanges",
        "ünï",
        3,
        null,
        undefined,
      ],
      body: [
        null,
        undefined,
        0,
        "text",
        [1, 2],
        { deep: { a: [1] } },
        "a\u0000b",
        { "k\u0000": 1 },
        JSON.parse('{"a":{"__proto__":1}}'),
        nested(MAX_BODY_DEPTH),
        nested(MAX_BODY_DEPTH + 1),
      ],
      routing: [null, "x", [], 1],
      "routing.audienceType": [1, 2, 3, 4, 5, 0, 6, 2.5, "2", null, undefined],
      "routing.audienceValue": [
        "v",
        "a\u0000",
        "acme",
        "global",
        "a:b",
        "tenant:x",
        "group:x",
        "user:x",
        "usr:x",
        "",
        "v".repeat(256),
        "v".repeat(257),
        7,
        null,
        undefined,
      ],
      "routing.tenantId": ["acme", "v", "t\u0000", "a:b", "", "t".repeat(256), "t".repeat(257), 5, null, undefined],
      metadata: [null, "x", [], 1],
      "metadata.producer": ["p", "p\u0000", "", "p".repeat(128), "p".repeat(129), 1, null, undefined],
      "metadata.timeStamp": dates,
      "metadata.isPersisted": [true, false, "true", 1, null, undefined],
      "metadata.persistedTTL": dates,
    };
    const fields = Object.keys(pools);
    let seed = 42;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;

    const disagreements: string[] = [];
    let validatorOnly = 0;
    let valid = 0;
    for (let n = 0; n < 20_000; n++) {
      const sample = structuredClone(base(pick([1, 2, 3, 4, 5])));
      for (let m = 1 + Math.floor(random() * 3); m > 0; m--) {
        const field = pick(fields);
        const value = pick(pools[field]!);
        const [outer, inner] = field.split(".") as [string, string | undefined];
        if (inner === undefined) sample[outer] = value;
        else if (typeof sample[outer] === "object" && sample[outer] !== null && !Array.isArray(sample[outer]))
          (sample[outer] as Record<string, unknown>)[inner] = value;
      }
      const json: unknown = JSON.parse(JSON.stringify(sample));
      const bySchema = schemaAccepts(json);
      const byValidator = validatorAccepts(json);
      const expected = bySchema && breaksValidatorOnlyRule(json) ? false : bySchema;
      if (bySchema && !expected) validatorOnly++;
      if (byValidator !== expected) disagreements.push(`schema ${bySchema}, validator ${byValidator}: ${JSON.stringify(json)}`);
      if (byValidator) valid++;
    }
    expect(disagreements.slice(0, 5)).toEqual([]);
    // The generator must reach both outcomes and the validator-only rules, or the comparison proves little.
    expect(valid).toBeGreaterThan(2000);
    expect(20_000 - valid).toBeGreaterThan(2000);
    expect(validatorOnly).toBeGreaterThan(50);
  }, 120_000);
});

import assert from "node:assert/strict";
import { describe, expect, it } from "vitest";
import { envelope, fc, mutated } from "@tidings/fuzzing";
import { envelopeBodies } from "./envelope-bodies.js";

const ABSENT = Symbol("absent");
const b = (text: string) => Buffer.from(text, "utf8");
/** The scan's bodies as text. */
const texts = (bytes: Buffer) => envelopeBodies(bytes).map((json) => (json === undefined ? undefined : Buffer.from(json).toString("utf8")));

/** What JSON.parse makes each envelope's body: the element's own `body` member, or ABSENT (also for one holding -0). */
function parsedBodies(text: string): unknown[] {
  const parsed: unknown = JSON.parse(text);
  return (Array.isArray(parsed) ? parsed : [parsed]).map((e: unknown) =>
    typeof e === "object" &&
    e !== null &&
    !Array.isArray(e) &&
    Object.hasOwn(e, "body") &&
    !holdsNegativeZero((e as Record<string, unknown>)["body"])
      ? (e as Record<string, unknown>)["body"]
      : ABSENT,
  );
}

/** True when `value` holds a -0 anywhere. */
function holdsNegativeZero(value: unknown): boolean {
  if (Object.is(value, -0)) return true;
  if (typeof value !== "object" || value === null) return false;
  return Object.values(value).some(holdsNegativeZero);
}

/** The scan's body texts, each parsed on its own. */
function scannedBodies(text: string | Buffer): unknown[] {
  return envelopeBodies(typeof text === "string" ? b(text) : text).map((json) =>
    json === undefined ? ABSENT : (JSON.parse(Buffer.from(json).toString("utf8")) as unknown),
  );
}

const space = fc.constantFrom("", " ", "\n", "\t ", "\r\n  ");
const key = fc.constantFrom(
  '"body"',
  '"b\\u006fdy"',
  '"\\u0062\\u006F\\u0064\\u0079"',
  '"bod"',
  '"bodyx"',
  '"id"',
  '"\\"body"',
  '"body\\\\"',
  '"b\\\\ody"',
);
const value = fc.oneof(
  fc.tuple(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(undefined, 1, "\t")).map(([v, indent]) => JSON.stringify(v, null, indent)),
  // numbers as JSON.stringify never writes them, negative zeros among them
  fc.constantFrom("-0", "-0.0e1", "[1,-0.000]", '{"a":-0E-2}', "-0.5", "-0.01e3", "-10", "1.50", "1E2", '"-0"'),
);
/** An object written by hand: keys that read as `body` in several spellings, repeated keys, whitespace anywhere. */
const handWritten = fc
  .array(fc.tuple(space, key, space, space, value, space), { maxLength: 6 })
  .map((members) => `{${members.map(([a, k, b, c, v, d]) => `${a}${k}${b}:${c}${v}${d}`).join(",")}}`);
const element = fc.oneof({ weight: 4, arbitrary: handWritten }, { weight: 1, arbitrary: value });
const request = fc.oneof(
  fc.tuple(space, handWritten, space).map((parts) => parts.join("")),
  fc
    .tuple(space, fc.array(fc.tuple(space, element, space), { maxLength: 6 }), space)
    .map(([a, elements, b]) => `${a}[${elements.map((e) => e.join("")).join(",")}]${b}`),
);

describe("envelopeBodies: each envelope's body JSON as received", () => {
  it("takes the body's span with its inner whitespace, of each element, undefined where there is none", () => {
    const text = ' [ {"id":"a", "body" : { "x" : [1, "]}\\"" ] } ,"routing":{}} ,\n {"body":"s"},{"id":1},7,{"body":-1.5e3} ] ';
    expect(texts(b(text))).toEqual(['{ "x" : [1, "]}\\"" ] }', '"s"', undefined, undefined, "-1.5e3"]);
    expect(texts(b("[]"))).toEqual([]);
    expect(texts(b(' {"body":null} '))).toEqual(["null"]);
    expect(texts(b("{}"))).toEqual([undefined]);
    expect(texts(b('"body"'))).toEqual([undefined]);
  });

  it("gives no text for a body holding a negative zero, which JSON.stringify writes as 0", () => {
    expect(texts(b('[{"body":-0},{"body":[1,{"a":-0.00e7}]},{"body":-0.01},{"body":[-0.5,"-0"]},{"body":{"x":-10}}]'))).toEqual([
      undefined,
      undefined,
      "-0.01",
      '[-0.5,"-0"]',
      '{"x":-10}',
    ]);
  });

  it("takes the last of repeated body keys and reads escaped keys as JSON.parse does", () => {
    expect(texts(b('{"body":1,"b\\u006fdy":2}'))).toEqual(["2"]);
    expect(texts(b('{"body":1,"b\\\\ody":2,"bod\\"":3}'))).toEqual(["1"]);
    expect(texts(b('{"x":{"body":1}}'))).toEqual([undefined]);
  });

  it("agrees with JSON.parse on every body of compact and indented envelope batches", () => {
    fc.assert(
      fc.property(fc.array(envelope, { maxLength: 6 }), fc.boolean(), fc.constantFrom(undefined, 2), (envelopes, one, indent) => {
        const text = JSON.stringify(one ? (envelopes[0] ?? {}) : envelopes, null, indent);
        assert.deepStrictEqual(scannedBodies(text), parsedBodies(text));
        // Compact: the text is the body's own JSON.stringify.
        if (indent === undefined && !one) {
          expect(texts(b(text))).toEqual(envelopes.map((e) => (e.body === undefined ? undefined : JSON.stringify(e.body))));
        }
      }),
      { numRuns: 1000 },
    );
  });

  it("agrees with JSON.parse on hand-written objects: escaped and repeated keys, whitespace anywhere", () => {
    fc.assert(
      fc.property(request, (text) => {
        assert.deepStrictEqual(scannedBodies(text), parsedBodies(text));
      }),
      { numRuns: 3000 },
    );
  });

  it("never disagrees with JSON.parse on mutated requests that are still JSON", () => {
    const bytes = request.map((text) => Buffer.from(text, "utf8") as Uint8Array);
    fc.assert(
      fc.property(mutated(bytes), (mutant) => {
        const text = Buffer.from(mutant).toString("utf8");
        try {
          JSON.parse(text);
        } catch {
          return;
        }
        // the bytes as received, invalid UTF-8 included, against what JSON.parse read from their decoding
        assert.deepStrictEqual(scannedBodies(Buffer.from(mutant)), parsedBodies(text));
      }),
      { numRuns: 3000 },
    );
  });
});

import { describe, expect, it } from "vitest";
import { fc } from "@tidings/fuzzing";
import { envelopeSizes, envelopeSizesWithin } from "./envelope-sizes.js";

const bytes = (s: string) => Buffer.from(s, "utf8");

describe("envelopeSizes: envelope sizes as received", () => {
  it("measures each array element's span without the whitespace around it", () => {
    expect(envelopeSizes(bytes(' [ {"a":1} ,\n {"b":[1,2,{"c":"]}"}]}\t] '))).toEqual([7, 22]);
    expect(envelopeSizes(bytes("[]"))).toEqual([]);
    expect(envelopeSizes(bytes("[ ]"))).toEqual([]);
  });

  it("measures a single envelope as the whole body, trimmed", () => {
    expect(envelopeSizes(bytes('\n {"id":"x"} \r\n'))).toEqual([10]);
  });

  it("follows strings with escaped quotes, backslashes, brackets and commas, and counts UTF-8 bytes", () => {
    const element = '{"s":"a\\"],[{\\\\","é":"€"}';
    expect(envelopeSizes(bytes(`[${element},1,"x,y",null]`))).toEqual([Buffer.byteLength(element), 1, 5, 4]);
  });

  it("counts the bytes as received, not as JSON.stringify would write them again", () => {
    // spaces inside the element, a \u escape and an invalid UTF-8 byte (U+FFFD, 3 bytes, once decoded)
    const element = Buffer.concat([bytes('{ "a" : "\\u00e9", "b": "'), Buffer.from([0xdd]), bytes('" }')]);
    expect(envelopeSizes(Buffer.concat([bytes("["), element, bytes("]")]))).toEqual([element.length]);
  });

  it("equals the UTF-8 length of JSON.stringify for every element of a compact JSON array", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { maxLength: 8 }), (values) => {
        const text = JSON.stringify(values);
        const elements = (JSON.parse(text) as unknown[]).map((v) => Buffer.byteLength(JSON.stringify(v)));
        expect(envelopeSizes(bytes(text))).toEqual(elements);
      }),
      { numRuns: 500 },
    );
  });
});

describe("envelopeSizesWithin: the sizes the limit is checked against", () => {
  it("refuses exactly the envelopes that are over the limit as received, scanning only a body over the limit", () => {
    fc.assert(
      fc.property(fc.array(fc.jsonValue(), { minLength: 1, maxLength: 8 }), fc.nat({ max: 400 }), fc.boolean(), (values, limit, spaced) => {
        const text = JSON.stringify(values, null, spaced ? 1 : undefined);
        const exact = envelopeSizes(bytes(text));
        const within = envelopeSizesWithin(bytes(text), values.length, limit);
        expect(within).toHaveLength(values.length);
        expect(within.map((s) => s > limit)).toEqual(exact.map((s) => s > limit));
        if (text.length > limit) expect(within).toEqual(exact);
      }),
      { numRuns: 500 },
    );
  });

  it("gives a body within the limit its own size for each envelope, unscanned", () => {
    expect(envelopeSizesWithin(bytes('[{"a":1}, {"b":2}]'), 2, 64)).toEqual([18, 18]);
    expect(envelopeSizesWithin(bytes('{"a":1}'), 1, 7)).toEqual([7]);
    expect(envelopeSizesWithin(bytes(' {"a":1}'), 1, 7)).toEqual([7]);
  });
});

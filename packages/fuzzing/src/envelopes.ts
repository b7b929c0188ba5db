import fc from "fast-check";

/*
 * Producer envelopes for property tests: valid about a quarter of the time, each field sometimes
 * absent or of the wrong type. Audience values come from a tiny alphabet with ':' and the audience key
 * prefixes, so that distinct audiences whose keys could collide are generated often.
 */

/** Any JSON value, or undefined (a missing field). */
export const jsonJunk = fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(undefined));
/** Audience values, tenant ids and group names, mostly short and collision-prone. */
export const audienceText = fc.oneof(
  { weight: 8, arbitrary: fc.stringMatching(/^(|global|tenant:|group:|user:)[ab:]{0,4}$/u) },
  { weight: 8, arbitrary: fc.stringMatching(/^[ab]{1,3}$/u) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 8 }) },
  { weight: 1, arbitrary: fc.string({ minLength: 255, maxLength: 260 }) },
);
const isoDate = fc.oneof(
  { weight: 6, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: jsonJunk },
  {
    weight: 3,
    arbitrary: fc
      .date({ min: new Date("0001-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true })
      .map((d) => d.toISOString()),
  },
  {
    weight: 1,
    arbitrary: fc.stringMatching(/^\d{4}-[01]\d-[0-3]\d([T ][0-2]\d:[0-5]\d(:[0-5]\d(\.\d{1,9})?)?(Z|[+-][01]\d:?[0-5]\d)?)?$/u),
  },
);

/** `good` nearly always, otherwise any JSON value or nothing. */
export function maybe<T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 30, arbitrary: good }, { weight: 1, arbitrary: jsonJunk });
}

const tenantId = fc.oneof(
  { weight: 4, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant(null) },
  { weight: 3, arbitrary: fc.stringMatching(/^[ab]{1,3}$/u) },
  { weight: 1, arbitrary: audienceText },
  { weight: 1, arbitrary: jsonJunk },
);
/** One producer envelope as a JavaScript value (undefined fields vanish in JSON). */
export const envelope = fc.record({
  id: maybe(
    fc.oneof(
      { weight: 5, arbitrary: fc.string({ minLength: 1, maxLength: 12 }) },
      { weight: 1, arbitrary: fc.string({ unit: "binary", maxLength: 260 }) },
    ),
  ),
  type: maybe(
    fc.oneof(
      { weight: 5, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/u) },
      fc.constantFrom("EventReadStatusChange", "eventdeletedstatuschange", "ReadStatusChange"),
      fc.string({ maxLength: 130 }),
    ),
  ),
  body: fc.oneof(
    { weight: 6, arbitrary: jsonJunk },
    // Keys that are special to JavaScript objects or to a client's decoder.
    {
      weight: 1,
      arbitrary: fc.dictionary(fc.constantFrom("__proto__", "constructor", "toString", "prototype", "a"), fc.jsonValue({ maxDepth: 1 }), {
        maxKeys: 2,
      }),
    },
  ),
  routing: maybe(
    fc.record({ audienceType: maybe(fc.integer({ min: 1, max: 5 })), audienceValue: maybe(audienceText), tenantId, extra: jsonJunk }),
  ),
  metadata: maybe(
    fc.record({
      producer: maybe(fc.string({ minLength: 1, maxLength: 130 })),
      timeStamp: isoDate,
      isPersisted: maybe(fc.oneof(fc.boolean(), fc.constant(undefined))),
      persistedTTL: isoDate,
      extra: jsonJunk,
    }),
  ),
});

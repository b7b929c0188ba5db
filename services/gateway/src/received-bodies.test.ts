import assert from "node:assert/strict";
import { describe, expect, it } from "vitest";
import { toDelivered, validateEnvelopes, type Notification } from "@tidings/contracts";
import { envelope, fc } from "@tidings/fuzzing";
import { jsonProtocol } from "@tidings/protocol";
import { keepReceivedBody, receivedBodyFrame } from "./received-bodies.js";

/** Today's frame of a live delivery: the delivered object serialised. */
const encoded = (n: Notification) => Buffer.from(jsonProtocol.encodeNotification(n.type, toDelivered(n, false)));
const validated = (e: unknown): Notification | undefined => {
  const result = validateEnvelopes(e, { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 1 << 20 });
  return result.ok ? result.notifications[0] : undefined;
};
const parseFrame = (frame: Uint8Array): unknown => {
  expect(frame[frame.length - 1]).toBe(0x1e);
  return JSON.parse(Buffer.from(frame.subarray(0, -1)).toString("utf8"));
};
/** `json` with the letters and slashes inside its strings written as escapes (`\u0061`, `\/`), as a producer may send them. */
function escaped(json: string): string {
  let out = "";
  let inString = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i]!;
    if (inString && c === "\\") {
      // an escape as JSON.stringify wrote it: copied whole
      const length = json[i + 1] === "u" ? 6 : 2;
      out += json.slice(i, i + length);
      i += length - 1;
    } else if (inString && /[a-z/]/u.test(c)) {
      out += c === "/" ? "\\/" : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
    } else {
      if (c === '"') inString = !inString;
      out += c;
    }
  }
  return out;
}

/** Valid envelopes: the fuzz generator's, with the rule-breaking ones dropped. */
const notification = envelope.map(validated).filter((n): n is Notification => n !== undefined);

describe("receivedBodyFrame: the JSON frame written around the body as received", () => {
  it("is null until a body text is kept for that notification object", () => {
    const n = validated({ id: "a", type: "t", body: { x: 1 }, routing: { audienceType: 1 }, metadata: { producer: "p" } })!;
    expect(receivedBodyFrame(n)).toBeNull();
    keepReceivedBody(n, Buffer.from('{"x":1}'));
    expect(receivedBodyFrame({ ...n })).toBeNull();
    expect(Buffer.from(receivedBodyFrame(n)!)).toEqual(encoded(n));
  });

  it("is byte for byte today's frame for a body sent as JSON.stringify writes it", () => {
    fc.assert(
      fc.property(notification, (n) => {
        keepReceivedBody(n, Buffer.from(JSON.stringify(n.body)));
        assert.deepStrictEqual(Buffer.from(receivedBodyFrame(n)!), encoded(n));
      }),
      { numRuns: 1000 },
    );
  });

  it("parses to today's frame's value for a body sent with whitespace and escapes", () => {
    fc.assert(
      fc.property(notification, fc.constantFrom(1, "\t", " \n"), fc.boolean(), (n, indent, escape) => {
        const spaced = JSON.stringify(n.body, null, indent);
        const json = escape ? escaped(spaced) : spaced;
        fc.pre(json !== JSON.stringify(n.body));
        keepReceivedBody(n, Buffer.from(json));
        const frame = receivedBodyFrame(n)!;
        assert.notDeepStrictEqual(Buffer.from(frame), encoded(n));
        assert.deepStrictEqual(parseFrame(frame), parseFrame(encoded(n)));
      }),
      { numRuns: 1000 },
    );
  });
});

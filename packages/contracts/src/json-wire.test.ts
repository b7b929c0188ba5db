import { describe, expect, it } from "vitest";
import { fc } from "@tidings/fuzzing";
import { validateEnvelope, type Notification } from "./envelope.js";
import { isPlainJsonString, notificationJson, rememberNotificationJson, utf8 } from "./json-wire.js";

const OPTS = { defaultTtlSeconds: 1800, maxNotificationBytes: 65536 };
const dec = new TextDecoder();

function notification(id: string, persisted = true): Notification {
  const r = validateEnvelope(
    {
      id,
      type: "t",
      body: { id },
      routing: { audienceType: 4, audienceValue: `u-${id}` },
      metadata: { producer: "p", isPersisted: persisted },
    },
    { ...OPTS, now: new Date() },
  );
  if (!r.ok) throw new Error("invalid");
  return r.notification;
}

describe("json-wire", () => {
  it("utf8: thousands of small encodes share slabs and none is overwritten by a later one; large texts and multi-byte characters encode exactly", () => {
    const texts = Array.from({ length: 5000 }, (_, i) => `{"i":${i},"s":"é€😀-${"x".repeat(i % 97)}"}`);
    const encoded = texts.map(utf8);
    texts.forEach((t, i) => expect(dec.decode(encoded[i]), `text ${i}`).toBe(t));
    expect(Buffer.from(encoded[0]!).equals(Buffer.from(texts[0]!, "utf8"))).toBe(true);
    const big = "€".repeat(10_000);
    expect(dec.decode(utf8(big))).toBe(big);
    expect(dec.decode(utf8(""))).toBe("");
  });

  it("a save's JSON text is reused once for the node message of the same notification object, never for another object", () => {
    const a = notification("a");
    const text = rememberNotificationJson(a);
    expect(text).toBe(JSON.stringify(a));
    const equalButOther = JSON.parse(text) as Notification;
    expect(notificationJson(equalButOther)).toBe(text);
    expect(notificationJson(a)).toBe(text);
    // Taken out when read: the next call writes it again (same text).
    expect(notificationJson(a)).toBe(JSON.stringify(a));
  });

  it("texts never read are forgotten after newer ones replace them, and notifications saved in a batch each get their own text back", () => {
    const unread = Array.from({ length: 2000 }, (_, i) => notification(`old-${i}`));
    unread.forEach((n) => rememberNotificationJson(n));
    const batch = Array.from({ length: 128 }, (_, i) => notification(`b-${i}`));
    const texts = batch.map(rememberNotificationJson);
    // Read in another order than written.
    for (let i = batch.length - 1; i >= 0; i -= 2) expect(notificationJson(batch[i]!)).toBe(texts[i]);
    for (let i = 0; i < batch.length; i += 2) expect(notificationJson(batch[i]!)).toBe(texts[i]);
    for (const n of unread.slice(0, 100)) expect(JSON.parse(notificationJson(n))).toEqual(n);
  });

  it("texts are found in the order saves are routed, across the ring's wrap, and a live notification's JSON is always written afresh", () => {
    // Validated notifications are never changed; the bodies are changed after the save here only to tell a
    // remembered text (written before the change) from one written afresh.
    const batch = Array.from({ length: 700 }, (_, i) => notification(`w-${i}`));
    const texts = batch.map(rememberNotificationJson);
    for (const n of batch) (n.body as Record<string, unknown>)["changed"] = true;
    // The last 512 are remembered; the first ones were overwritten and are written afresh.
    batch.slice(-400).forEach((n, i) => expect(notificationJson(n), `w-${300 + i}`).toBe(texts[300 + i]));
    expect(notificationJson(batch[0]!)).toBe(JSON.stringify(batch[0]));
    expect(notificationJson(batch[0]!)).not.toBe(texts[0]);

    const live = notification("live", false);
    const liveText = rememberNotificationJson(live);
    (live.body as Record<string, unknown>)["changed"] = true;
    expect(notificationJson(live)).toBe(JSON.stringify(live));
    expect(notificationJson(live)).not.toBe(liveText);
  });
});

describe("isPlainJsonString", () => {
  it("is true exactly when JSON writes the string as its characters in quotes and every one is printable ASCII", () => {
    const char = fc.oneof(
      fc.constantFrom(...'aZ09 ~!#[]"\\\u007f\u0000\u001f\u00e9\u2028'),
      fc.string({ unit: "binary", minLength: 1, maxLength: 1 }),
    );
    fc.assert(
      fc.property(fc.array(char, { maxLength: 10 }), (chars) => {
        const s = chars.join("");
        const ascii = [...s].every((c) => c >= " " && c <= "~");
        expect(isPlainJsonString(s)).toBe(ascii && JSON.stringify(s) === `"${s}"`);
      }),
      { numRuns: 3000 },
    );
  });
});

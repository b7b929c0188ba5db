import { describe, expect, it } from "vitest";
import { decodeIngestBody, encodeIngestBody, ingestFormat } from "./ingest-codec.js";

const envelope = { id: "n1", type: "t", body: { a: [1, 2], s: "ü" }, routing: { audienceType: 1 }, metadata: { producer: "p" } };

describe("ingest codec", () => {
  it("round-trips JSON and MessagePack", () => {
    for (const format of ["json", "msgpack"] as const) {
      const { data, headers } = encodeIngestBody(envelope, format);
      expect(decodeIngestBody(data, headers)).toEqual({ ok: true, format, value: envelope });
    }
  });

  it("reads MessagePack only when Content-Type says so, in any case and with parameters", () => {
    expect(ingestFormat({ "content-type": "Application/MsgPack; charset=binary" })).toBe("msgpack");
    expect(ingestFormat({ "Content-Type": "application/json" })).toBe("json");
    expect(ingestFormat(null)).toBe("json");
  });

  it("reports malformed bodies instead of throwing", () => {
    const badJson = decodeIngestBody(new TextEncoder().encode("{nope"), null);
    expect(badJson).toMatchObject({ ok: false, format: "json" });
    const badUtf8 = decodeIngestBody(Uint8Array.of(0x7b, 0xff, 0x7d), null);
    expect(badUtf8.ok).toBe(false);
    const badMsgpack = decodeIngestBody(Uint8Array.of(0xc1), { "Content-Type": "application/msgpack" });
    expect(badMsgpack).toMatchObject({ ok: false, format: "msgpack" });
  });
});

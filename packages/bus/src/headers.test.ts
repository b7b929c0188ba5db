import { describe, expect, it } from "vitest";
import { fromNatsHeaders, headerValue, toNatsHeaders } from "./headers.js";

describe("headers", () => {
  it("round-trips names exactly as given", () => {
    const back = fromNatsHeaders(toNatsHeaders({ "Nats-Msg-Id": "a", traceparent: "00-x", "X-lower-Mixed": "v" }));
    expect(back).toEqual({ "Nats-Msg-Id": "a", traceparent: "00-x", "X-lower-Mixed": "v" });
  });

  it("reads no headers as null", () => {
    expect(fromNatsHeaders(undefined)).toBeNull();
  });

  it("looks a name up case-insensitively", () => {
    expect(headerValue({ "content-type": "application/msgpack" }, "Content-Type")).toBe("application/msgpack");
    expect(headerValue({ "Content-Type": "x" }, "Content-Type")).toBe("x");
    expect(headerValue(null, "Content-Type")).toBeUndefined();
    expect(headerValue({ "Nats-Msg-Id": "a", TRACEPARENT: "00-x" }, "traceparent")).toBe("00-x");
    // Only the header's own keys: same length is not enough, and nothing inherited counts.
    expect(headerValue({ "Content-Typo": "x" }, "Content-Type")).toBeUndefined();
    expect(headerValue(Object.create({ "content-type": "inherited" }) as Record<string, string>, "Content-Type")).toBeUndefined();
  });
});

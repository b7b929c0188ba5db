import { describe, expect, it } from "vitest";
import { encodeNegotiateError, encodeNegotiateResponse, parseNegotiateQuery } from "./negotiate.js";

const NON_INTEGER = { ok: false, error: "The client requested a non-integer protocol version." };

describe("negotiate request (docs/protocol.md §2.1)", () => {
  it.each([
    ["", 0],
    ["negotiateVersion=0", 0],
    ["negotiateVersion=1", 1],
    ["negotiateVersion=5", 1],
    ["negotiateVersion=2147483647", 1],
    ["NEGOTIATEVERSION=1", 1],
    ["negotiateversion=1", 1],
    ["negotiateVersion=%31", 1],
    ["negotiateVersion=%2B1", 1],
    ["negotiateVersion=+1+", 1],
    ["negotiateVersion=-0", 0],
    ["negotiateVersion=007", 1],
    ["_=1700000000000&negotiateVersion=1&app=x&flag", 1],
    ["?negotiateVersion=1", 1],
    ["&&negotiateVersion=1&", 1],
  ])("%j → version %i", (query, version) => {
    expect(parseNegotiateQuery(query)).toEqual({ ok: true, version, statefulReconnect: false });
  });

  it("rejects a negative version (W-NEG-03)", () => {
    expect(parseNegotiateQuery("negotiateVersion=-1")).toEqual({
      ok: false,
      error: "The client requested version '-1', but the server does not support this version.",
    });
    expect(parseNegotiateQuery("negotiateVersion=-0012")).toEqual({
      ok: false,
      error: "The client requested version '-12', but the server does not support this version.",
    });
  });

  it.each([
    ["negotiateVersion=abc"],
    ["negotiateVersion=1.5"],
    ["negotiateVersion="],
    ["negotiateVersion"],
    ["negotiateVersion=1e2"],
    ["negotiateVersion=0x1"],
    ["negotiateVersion=2147483648"],
    ["negotiateVersion=99999999999999999999"],
    ["negotiateVersion=%ZZ"],
    ["negotiateVersion=1&negotiateVersion=1"],
    ["negotiateVersion=%EF%BC%91"], // fullwidth digit one: .NET parses ASCII digits only
  ])("%j → non-integer error", (query) => {
    expect(parseNegotiateQuery(query)).toEqual(NON_INTEGER);
  });

  it.each([
    ["negotiateVersion=1&useStatefulReconnect=true", true],
    ["negotiateVersion=1&useStatefulReconnect=TRUE", true],
    ["negotiateVersion=1&UseStatefulReconnect=True", true],
    ["negotiateVersion=1&useStatefulReconnect=%74rue", true],
    ["negotiateVersion=1", false],
    ["negotiateVersion=1&useStatefulReconnect=false", false],
    ["negotiateVersion=1&useStatefulReconnect=1", false],
    ["negotiateVersion=1&useStatefulReconnect=", false],
    ["negotiateVersion=1&useStatefulReconnect=true&useStatefulReconnect=true", false],
  ])("%j → statefulReconnect %s", (query, statefulReconnect) => {
    expect(parseNegotiateQuery(query)).toEqual({ ok: true, version: 1, statefulReconnect });
  });

  it("reports the version error even when stateful reconnect is asked", () => {
    expect(parseNegotiateQuery("useStatefulReconnect=true&negotiateVersion=abc")).toEqual(NON_INTEGER);
  });
});

describe("negotiate response (docs/protocol.md §2.2)", () => {
  const all = ["WebSockets", "ServerSentEvents", "LongPolling"] as const;

  it("writes version 1 with stateful reconnect in the spec's key order", () => {
    expect(
      encodeNegotiateResponse({
        version: 1,
        connectionId: "q2Vw8n1dS0Gx-LkP3aTz9A",
        connectionToken: "h7Tb0mWc2Rr_eY5uJpQx4NcD",
        transports: all,
        statefulReconnect: true,
      }),
    ).toBe(
      '{"useStatefulReconnect":true,"negotiateVersion":1,"connectionId":"q2Vw8n1dS0Gx-LkP3aTz9A","connectionToken":"h7Tb0mWc2Rr_eY5uJpQx4NcD",' +
        '"availableTransports":[{"transport":"WebSockets","transferFormats":["Text","Binary"]},' +
        '{"transport":"ServerSentEvents","transferFormats":["Text"]},' +
        '{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}',
    );
  });

  it("writes version 1 without useStatefulReconnect unless it is on (W-NEG-01)", () => {
    const body = encodeNegotiateResponse({
      version: 1,
      connectionId: "A",
      connectionToken: "T",
      transports: all,
      statefulReconnect: false,
    });
    expect(body.startsWith('{"negotiateVersion":1,"connectionId":"A","connectionToken":"T","availableTransports":[')).toBe(true);
    expect(Object.keys(JSON.parse(body) as object)).toEqual(["negotiateVersion", "connectionId", "connectionToken", "availableTransports"]);
  });

  it("writes version 0 without connectionToken (W-V0-01)", () => {
    expect(
      encodeNegotiateResponse({
        version: 0,
        connectionId: "A",
        connectionToken: "T",
        transports: ["LongPolling"],
        statefulReconnect: false,
      }),
    ).toBe(
      '{"negotiateVersion":0,"connectionId":"A","availableTransports":[{"transport":"LongPolling","transferFormats":["Text","Binary"]}]}',
    );
  });

  it("keeps the fixed transport order whatever order the setting lists (W-MX-08)", () => {
    const body = JSON.parse(
      encodeNegotiateResponse({
        version: 1,
        connectionId: "A",
        connectionToken: "T",
        transports: ["LongPolling", "ServerSentEvents"],
        statefulReconnect: false,
      }),
    ) as { availableTransports: unknown };
    expect(body.availableTransports).toEqual([
      { transport: "ServerSentEvents", transferFormats: ["Text"] },
      { transport: "LongPolling", transferFormats: ["Text", "Binary"] },
    ]);
  });

  it("never writes legacy or redirect properties", () => {
    const body = encodeNegotiateResponse({ version: 1, connectionId: "A", connectionToken: "T", transports: all, statefulReconnect: true });
    for (const key of ["ProtocolVersion", "url", "accessToken", "error"]) expect(body).not.toContain(`"${key}"`);
  });

  it("writes an error as its only property", () => {
    expect(encodeNegotiateError("The client requested a non-integer protocol version.")).toBe(
      '{"error":"The client requested a non-integer protocol version."}',
    );
    expect(encodeNegotiateError('a"b')).toBe('{"error":"a\\"b"}');
  });
});

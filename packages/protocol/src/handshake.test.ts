import { describe, expect, it } from "vitest";
import { HandshakeErrors } from "./errors.js";
import { HANDSHAKE_OK, createHandshakeParser, encodeHandshakeError } from "./handshake.js";
import type { HandshakeOutcome } from "./handshake.js";
import { concat, hex, record, text, toHex, utf8 } from "./test-support.js";

const MAX = 32768;

function handshake(...chunks: Uint8Array[]): HandshakeOutcome[] {
  const parser = createHandshakeParser(MAX);
  return chunks.map((chunk) => parser.push(chunk));
}

function outcomeOf(json: string): HandshakeOutcome {
  return createHandshakeParser(MAX).push(record(json));
}

function errorOf(json: string): string {
  const outcome = outcomeOf(json);
  return outcome.status === "error" ? outcome.error : `not an error: ${outcome.status}`;
}

const UNEXPECTED = "An unexpected error occurred during connection handshake.";

describe("handshake responses", () => {
  it("answers success with exactly 7B 7D 1E", () => {
    expect(toHex(HANDSHAKE_OK)).toBe("7B 7D 1E");
  });

  it('writes errors as {"error":…}␞ without a type', () => {
    expect(text(encodeHandshakeError("Handshake was canceled."))).toBe('{"error":"Handshake was canceled."}\u001e');
    expect(text(encodeHandshakeError(HandshakeErrors.binaryOnTextTransport("messagepack")))).toBe(
      `{"error":"Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format."}\u001e`,
    );
    expect(text(encodeHandshakeError("The protocol 'a\"b' is not supported."))).toBe(
      '{"error":"The protocol \'a\\"b\' is not supported."}\u001e',
    );
  });
});

describe("handshake requests (docs/protocol.md §4.1, W-HS-01)", () => {
  it.each([
    ['{"protocol":"json","version":1}', "json", 1],
    ['{"protocol":"json","version":2}', "json", 2],
    ['{"protocol":"messagepack","version":1}', "messagepack", 1],
    ['{"protocol":"messagepack","version":2}', "messagepack", 2],
    ['{"protocol":"JSON","version":1}', "json", 1],
    ['{"protocol":"MessagePack","version":1}', "messagepack", 1],
    ['{"protocol":"json","version":0}', "json", 0],
    ['{"protocol":"json","version":-1}', "json", -1],
    ['{"version":1,"protocol":"json"}', "json", 1],
    ['{"protocol": "json", "version": 1}', "json", 1],
    ['{"protocol":"json","version":1.0}', "json", 1],
  ])("%s → ok", (json, protocol, version) => {
    expect(outcomeOf(json)).toEqual({ status: "ok", protocol, version, rest: new Uint8Array(0) });
  });

  it("rejects an unsupported version with the canonical protocol name (W-HS-02)", () => {
    expect(errorOf('{"protocol":"json","version":3}')).toBe("The server does not support version 3 of the 'json' protocol.");
    expect(errorOf('{"protocol":"MESSAGEPACK","version":7}')).toBe("The server does not support version 7 of the 'messagepack' protocol.");
  });

  it("rejects an unknown protocol quoting it as sent (W-HS-03)", () => {
    expect(errorOf('{"protocol":"foo","version":1}')).toBe("The protocol 'foo' is not supported.");
    expect(errorOf('{"protocol":"Foo","version":9}')).toBe("The protocol 'Foo' is not supported.");
    expect(errorOf('{"protocol":"","version":1}')).toBe("The protocol '' is not supported.");
    // Case folding is ASCII-only, as OrdinalIgnoreCase: the Kelvin sign is not a "k".
    expect(errorOf('{"protocol":"messagepac\u212a","version":1}')).toBe("The protocol 'messagepac\u212a' is not supported.");
  });

  it.each([
    ["hello"],
    ['{"version":1}'],
    ['{"protocol":"json"}'],
    ['{"protocol":"json","version":"1"}'],
    ['{"protocol":"json","version":1.5}'],
    ['{"protocol":"json","version":null}'],
    ['{"protocol":"json","version":2147483648}'],
    ['{"protocol":1,"version":1}'],
    ['["json",1]'],
    ["null"],
    [""],
    ['{"protocol":"json","version":1'],
  ])("%j → unexpected error (W-HS-05)", (json) => {
    expect(errorOf(json)).toBe(UNEXPECTED);
  });

  it("treats invalid UTF-8 as an unexpected error", () => {
    const bytes = concat(utf8('{"protocol":"json'), hex("FF"), utf8('","version":1}\u001e'));
    expect(createHandshakeParser(MAX).push(bytes)).toEqual({ status: "error", error: UNEXPECTED });
  });
});

describe("incremental handshake parsing", () => {
  it("accepts a handshake split across chunks with whitespace and an unknown property (W-HS-06)", () => {
    const [first, second] = handshake(utf8(' {\n  "protocol" : "json",\t'), utf8('"extra": {"a": [1]}, "version" : 1 }\r\n\u001e'));
    expect(first).toEqual({ status: "incomplete" });
    expect(second).toEqual({ status: "ok", protocol: "json", version: 1, rest: new Uint8Array(0) });
  });

  it("returns the bytes after the separator as rest (W-WS-04)", () => {
    const chunk = utf8('{"protocol":"json","version":1}\u001e{"type":6}\u001e{"type":1,');
    const [outcome] = handshake(chunk);
    if (outcome?.status !== "ok") throw new Error("handshake failed");
    expect(text(outcome.rest)).toBe('{"type":6}\u001e{"type":1,');
    chunk.fill(0);
    expect(text(outcome.rest)).toBe('{"type":6}\u001e{"type":1,'); // a copy, not a view
  });

  it("returns binary rest for MessagePack", () => {
    const [outcome] = handshake(concat(record('{"protocol":"messagepack","version":1}'), hex("02 91 06")));
    expect(outcome).toEqual({ status: "ok", protocol: "messagepack", version: 1, rest: hex("02 91 06") });
  });

  it("finds the handshake and its rest whatever byte offset splits the input", () => {
    const input = concat(record('{"protocol":"messagepack","version":2}'), hex("02 91 06 03 92 08 05"));
    for (let offset = 0; offset <= input.length; offset++) {
      const outcomes = handshake(input.subarray(0, offset), input.subarray(offset));
      const ok = outcomes.filter((outcome) => outcome.status === "ok");
      expect(outcomes.every((outcome) => outcome.status !== "error")).toBe(true);
      expect(ok.length).toBeGreaterThan(0);
      expect(toHex(concat(...ok.map((outcome) => outcome.rest)))).toBe("02 91 06 03 92 08 05");
      expect(ok.every((outcome) => outcome.protocol === "messagepack" && outcome.version === 2)).toBe(true);
    }
  });

  it("keeps its first outcome: later chunks are rest, or the same error", () => {
    const parser = createHandshakeParser(MAX);
    expect(parser.push(record('{"protocol":"json","version":1}')).status).toBe("ok");
    expect(parser.push(utf8('{"type":6}\u001e'))).toEqual({ status: "ok", protocol: "json", version: 1, rest: utf8('{"type":6}\u001e') });
    const failed = createHandshakeParser(MAX);
    expect(failed.push(record("hello"))).toEqual({ status: "error", error: UNEXPECTED });
    expect(failed.push(record('{"protocol":"json","version":1}'))).toEqual({ status: "error", error: UNEXPECTED });
  });

  it("cancels after the limit without a separator (W-HS-04)", () => {
    expect(handshake(new Uint8Array(40_000).fill(0x20))).toEqual([{ status: "error", error: "Handshake was canceled." }]);
    const parser = createHandshakeParser(MAX);
    expect(parser.push(new Uint8Array(MAX - 1).fill(0x20))).toEqual({ status: "incomplete" });
    expect(parser.push(utf8(" "))).toEqual({ status: "error", error: HandshakeErrors.canceled });
  });

  it("honours a separator within the first maxBytes bytes, not after them", () => {
    const json = '{"protocol":"json","version":1}';
    const padded = (recordBytes: number) => record(json + " ".repeat(recordBytes - json.length));
    expect(createHandshakeParser(MAX).push(padded(MAX - 1)).status).toBe("ok");
    expect(createHandshakeParser(MAX).push(padded(MAX))).toEqual({ status: "error", error: "Handshake was canceled." });
    const parser = createHandshakeParser(MAX);
    const bytes = padded(MAX - 1);
    expect(parser.push(bytes.subarray(0, 100))).toEqual({ status: "incomplete" });
    expect(parser.push(bytes.subarray(100)).status).toBe("ok");
  });
});

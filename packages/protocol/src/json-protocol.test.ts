import { describe, expect, it } from "vitest";
import { HubErrors } from "./errors.js";
import { PING_JSON, jsonProtocol } from "./json-protocol.js";
import type { DecodeResult, HubMessage, ServerMessage } from "./messages.js";
import { concat, hex, record, text, toHex, utf8 } from "./test-support.js";

const MAX = 32768;

function encoded(message: ServerMessage): string {
  return text(jsonProtocol.encode(message));
}

function decodeAll(...chunks: Uint8Array[]): DecodeResult {
  const decoder = jsonProtocol.createDecoder(MAX);
  const messages: HubMessage[] = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    messages.push(...result.messages);
    if (result.error !== undefined) return { messages, error: result.error };
  }
  return { messages };
}

function decodeOne(json: string): HubMessage | string {
  const result = decodeAll(record(json));
  if (result.error !== undefined) return result.error;
  expect(result.messages).toHaveLength(1);
  return result.messages[0] as HubMessage;
}

/** An Invocation record of exactly `size` bytes (separator excluded). */
function invocationOfSize(size: number): string {
  const head = `{"type":1,"target":"T","arguments":["`;
  const tail = `"]}`;
  return head + "x".repeat(size - head.length - tail.length) + tail;
}

describe("jsonProtocol identity", () => {
  it("is the Text protocol named json", () => {
    expect(jsonProtocol.name).toBe("json");
    expect(jsonProtocol.transferFormat).toBe("Text");
    expect(jsonProtocol.binary).toBe(false);
  });
});

describe("JSON encoding (docs/protocol.md §4.6, §4.7)", () => {
  it("writes a void completion without result", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "void" })).toBe('{"type":3,"invocationId":"0"}\u001e');
  });

  it("writes a result completion, null for an undefined result", () => {
    expect(encoded({ type: 3, invocationId: "7", kind: "result", result: { a: [1, "b"] } })).toBe(
      '{"type":3,"invocationId":"7","result":{"a":[1,"b"]}}\u001e',
    );
    expect(encoded({ type: 3, invocationId: "7", kind: "result", result: undefined })).toBe(
      '{"type":3,"invocationId":"7","result":null}\u001e',
    );
    expect(encoded({ type: 3, invocationId: "7", kind: "result", result: null })).toBe('{"type":3,"invocationId":"7","result":null}\u001e');
  });

  it("writes an error completion (spec example)", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "error", error: HubErrors.binding("X") })).toBe(
      `{"type":3,"invocationId":"0","error":"Failed to invoke 'X' due to an error on the server."}\u001e`,
    );
  });

  it("never writes an empty error", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "error", error: "" })).toBe('{"type":3,"invocationId":"0"}\u001e');
  });

  it("writes Ping as the shared constant", () => {
    expect(encoded({ type: 6 })).toBe('{"type":6}\u001e');
    expect(text(PING_JSON)).toBe('{"type":6}\u001e');
    expect(toHex(PING_JSON)).toBe("7B 22 74 79 70 65 22 3A 36 7D 1E");
    // encode returns a copy: a caller writing into it cannot corrupt the constant.
    const frame = jsonProtocol.encode({ type: 6 });
    frame.fill(0);
    expect(text(PING_JSON)).toBe('{"type":6}\u001e');
  });

  it("writes Close with error only when non-empty and allowReconnect only when true", () => {
    expect(encoded({ type: 7, allowReconnect: true })).toBe('{"type":7,"allowReconnect":true}\u001e');
    expect(encoded({ type: 7 })).toBe('{"type":7}\u001e');
    expect(encoded({ type: 7, error: "Slow consumer", allowReconnect: true })).toBe(
      '{"type":7,"error":"Slow consumer","allowReconnect":true}\u001e',
    );
    expect(encoded({ type: 7, error: "", allowReconnect: false })).toBe('{"type":7}\u001e');
    expect(encoded({ type: 7, error: 'say "no"' })).toBe('{"type":7,"error":"say \\"no\\""}\u001e');
  });

  it("writes Ack and Sequence", () => {
    expect(encoded({ type: 8, sequenceId: 5 })).toBe('{"type":8,"sequenceId":5}\u001e');
    expect(encoded({ type: 9, sequenceId: 5 })).toBe('{"type":9,"sequenceId":5}\u001e');
  });

  it("writes an Invocation without invocationId or headers", () => {
    expect(encoded({ type: 1, target: "invoice-ready", arguments: [{ id: 1 }] })).toBe(
      '{"type":1,"target":"invoice-ready","arguments":[{"id":1}]}\u001e',
    );
  });

  it("writes a notification exactly as the equivalent Invocation", () => {
    const argument = { id: "a\u001eb\nc", total: 12.5, tags: ["x"], nested: { ok: true, none: null } };
    const notification = jsonProtocol.encodeNotification("invoice-ready", argument);
    expect(text(notification)).toBe(
      '{"type":1,"target":"invoice-ready","arguments":[{"id":"a\\u001eb\\nc","total":12.5,"tags":["x"],"nested":{"ok":true,"none":null}}]}\u001e',
    );
    expect(toHex(notification)).toBe(toHex(jsonProtocol.encode({ type: 1, target: "invoice-ready", arguments: [argument] })));
  });

  it("keeps the record separator and line feeds out of the record body", () => {
    const frame = jsonProtocol.encodeNotification('t"\u001e\n', "\u001e\n\r\u2028");
    expect(frame.indexOf(0x1e)).toBe(frame.length - 1);
    expect(frame.indexOf(0x0a)).toBe(-1);
    expect(frame.indexOf(0x0d)).toBe(-1);
  });

  it("writes target and arguments byte-exact in UTF-8", () => {
    expect(toHex(jsonProtocol.encodeNotification("é", "😀"))).toBe(toHex(utf8('{"type":1,"target":"é","arguments":["😀"]}\u001e')));
  });

  it("writes undefined and Dates as JSON does", () => {
    expect(text(jsonProtocol.encodeNotification("t", undefined))).toBe('{"type":1,"target":"t","arguments":[null]}\u001e');
    expect(text(jsonProtocol.encodeNotification("t", { at: new Date(0), gone: undefined }))).toBe(
      '{"type":1,"target":"t","arguments":[{"at":"1970-01-01T00:00:00.000Z"}]}\u001e',
    );
  });

  it("throws for values JSON cannot write", () => {
    expect(() => jsonProtocol.encodeNotification("t", { n: 1n })).toThrow(TypeError);
  });

  it("writes each notification as its own plain Uint8Array of exactly its bytes, small or large", () => {
    const small = jsonProtocol.encodeNotification("a", { v: "x" });
    const copy = small.slice();
    const large = jsonProtocol.encodeNotification("b", { v: "ü".repeat(5000) });
    const after = jsonProtocol.encodeNotification("c", { v: "y" });
    for (const frame of [small, large, after]) {
      expect(Object.getPrototypeOf(frame)).toBe(Uint8Array.prototype);
      expect(frame.byteLength).toBe(frame.length);
    }
    // Encoding more frames leaves earlier ones untouched (they may share a pool slab, never bytes).
    expect(toHex(small)).toBe(toHex(copy));
    expect(text(small)).toBe('{"type":1,"target":"a","arguments":[{"v":"x"}]}\u001e');
    expect(text(after)).toBe('{"type":1,"target":"c","arguments":[{"v":"y"}]}\u001e');
    expect(toHex(large)).toBe(toHex(utf8(`{"type":1,"target":"b","arguments":[{"v":"${"ü".repeat(5000)}"}]}\u001e`)));
    // slice() copies, as for any Uint8Array (a Buffer's slice would alias).
    const sliced = small.slice(0, 4);
    sliced[0] = 0;
    expect(small[0]).toBe(0x7b);
  });

  it("writes a notification byte-for-byte as the Invocation encoder for many arguments", () => {
    const values: unknown[] = [
      null,
      0,
      -1.5,
      1e21,
      "",
      "\u0000\u001f\u007f\u0080\u07ff\u0800\uffff",
      "\ud83d\ude00",
      "\ud800",
      [],
      {},
      [{ a: [1, { b: "é" }] }],
      { "k\u001e": "v\n" },
      true,
      { at: new Date(86_400_000) },
    ];
    for (const target of ["t", "invoice-ready", 'q"\\', "ünï"]) {
      for (const argument of values) {
        expect(toHex(jsonProtocol.encodeNotification(target, argument))).toBe(
          toHex(jsonProtocol.encode({ type: 1, target, arguments: [argument] })),
        );
      }
    }
  });

  it("puts type first in every record", () => {
    const messages: ServerMessage[] = [
      { type: 1, target: "t", arguments: [] },
      { type: 3, invocationId: "1", kind: "void" },
      { type: 3, invocationId: "1", kind: "result", result: 1 },
      { type: 3, invocationId: "1", kind: "error", error: "e" },
      { type: 6 },
      { type: 7, error: "e", allowReconnect: true },
      { type: 8, sequenceId: 1 },
      { type: 9, sequenceId: 1 },
    ];
    for (const message of messages) expect(encoded(message).startsWith(`{"type":${message.type}`)).toBe(true);
  });
});

describe("JSON decoding of each message type (docs/protocol.md §4.4)", () => {
  it("decodes the JS client's invoke", () => {
    expect(decodeOne('{"type":1,"invocationId":"0","target":"Subscribe","arguments":[{"audienceType":"User","value":"u1"}]}')).toEqual({
      type: 1,
      invocationId: "0",
      target: "Subscribe",
      arguments: [{ audienceType: "User", value: "u1" }],
    });
  });

  it.each([
    ['{"type":1,"target":"Send","arguments":[]}'],
    ['{"type":1,"invocationId":null,"target":"Send","arguments":[]}'],
    ['{"type":1,"invocationId":"","target":"Send","arguments":[]}'],
  ])("treats an absent, null or empty invocationId as none: %s", (json) => {
    const message = decodeOne(json);
    expect(message).toEqual({ type: 1, target: "Send", arguments: [] });
    expect(Object.keys(message as object)).not.toContain("invocationId");
  });

  it("accepts third-party shapes: headers, UUID ids, spaces, extra properties (W-V0-04)", () => {
    expect(
      decodeOne(
        '{"type": 1, "headers": {}, "invocationId": "9f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", "target": "Subscribe", "arguments": [], "extra": 1}',
      ),
    ).toEqual({ type: 1, headers: {}, invocationId: "9f1c2a4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b", target: "Subscribe", arguments: [] });
    expect(decodeOne('{"type": 7, "headers": {}, "error": null, "allow_reconnect": null}')).toEqual({ type: 7 });
  });

  it("keeps string headers, drops other header values, and refuses non-object headers", () => {
    expect(decodeOne('{"type":1,"headers":{"traceparent":"00-ab","n":1,"__proto__":"x"},"target":"T","arguments":[]}')).toEqual({
      type: 1,
      headers: Object.fromEntries([
        ["traceparent", "00-ab"],
        ["__proto__", "x"],
      ]),
      target: "T",
      arguments: [],
    });
    expect(decodeOne('{"type":1,"headers":[],"target":"T","arguments":[]}')).toBe("Invalid message");
    expect(decodeOne('{"type":1,"headers":"h","target":"T","arguments":[]}')).toBe("Invalid message");
  });

  it("decodes streamIds and refuses ill-typed ones", () => {
    expect(decodeOne('{"type":1,"invocationId":"1","target":"T","arguments":[1],"streamIds":["2"]}')).toEqual({
      type: 1,
      invocationId: "1",
      target: "T",
      arguments: [1],
      streamIds: ["2"],
    });
    expect(decodeOne('{"type":1,"target":"T","arguments":[],"streamIds":null}')).toEqual({ type: 1, target: "T", arguments: [] });
    expect(decodeOne('{"type":1,"target":"T","arguments":[],"streamIds":[2]}')).toBe("Invalid message");
    expect(decodeOne('{"type":1,"target":"T","arguments":[],"streamIds":"2"}')).toBe("Invalid message");
  });

  it("refuses an invocationId that is not a string", () => {
    expect(decodeOne('{"type":1,"invocationId":0,"target":"T","arguments":[]}')).toBe("Invalid message");
  });

  it("decodes StreamItem, Completion and CancelInvocation", () => {
    expect(decodeOne('{"type":2,"invocationId":"1","item":{"a":1}}')).toEqual({ type: 2, invocationId: "1", item: { a: 1 } });
    expect(decodeOne('{"type":2,"invocationId":"1"}')).toEqual({ type: 2, invocationId: "1", item: null });
    expect(decodeOne('{"type":3,"invocationId":"1"}')).toEqual({ type: 3, invocationId: "1" });
    expect(decodeOne('{"type":3,"invocationId":"1","result":5}')).toEqual({ type: 3, invocationId: "1", result: 5 });
    expect(decodeOne('{"type":3,"invocationId":"1","error":"boom"}')).toEqual({ type: 3, invocationId: "1", error: "boom" });
    expect(decodeOne('{"type":3,"invocationId":"1","error":"boom","result":null}')).toEqual({ type: 3, invocationId: "1", error: "boom" });
    expect(decodeOne('{"type":5,"invocationId":"1"}')).toEqual({ type: 5, invocationId: "1" });
  });

  it("refuses StreamItem, Completion and CancelInvocation without a string invocationId", () => {
    expect(decodeOne('{"type":2,"item":1}')).toBe("Invalid message");
    expect(decodeOne('{"type":3,"invocationId":null}')).toBe("Invalid message");
    expect(decodeOne('{"type":3,"invocationId":"1","error":"a","result":1}')).toBe("Invalid message");
    expect(decodeOne('{"type":3,"invocationId":"1","error":1}')).toBe("Invalid message");
    expect(decodeOne('{"type":5,"invocationId":5}')).toBe("Invalid message");
  });

  it("decodes StreamInvocation and requires its non-empty invocationId", () => {
    expect(decodeOne('{"type":4,"invocationId":"3","target":"T","arguments":[]}')).toEqual({
      type: 4,
      invocationId: "3",
      target: "T",
      arguments: [],
    });
    expect(decodeOne('{"type":4,"target":"T","arguments":[]}')).toBe("Invalid message");
    expect(decodeOne('{"type":4,"invocationId":null,"target":"T","arguments":[]}')).toBe("Invalid message");
    expect(decodeOne('{"type":4,"invocationId":"","target":"T","arguments":[]}')).toBe("Invalid message");
    expect(decodeOne('{"type":4,"invocationId":"3","arguments":[]}')).toBe("Invalid message");
  });

  it("decodes Ping and Close", () => {
    expect(decodeOne('{"type":6}')).toEqual({ type: 6 });
    expect(decodeOne('{"type":7}')).toEqual({ type: 7 });
    expect(decodeOne('{"type":7,"error":"bye","allowReconnect":true}')).toEqual({ type: 7, error: "bye", allowReconnect: true });
    expect(decodeOne('{"type":7,"error":null,"allowReconnect":false}')).toEqual({ type: 7, allowReconnect: false });
    expect(decodeOne('{"type":7,"allowReconnect":"yes"}')).toBe("Invalid message");
    expect(decodeOne('{"type":7,"error":3}')).toBe("Invalid message");
  });

  it("decodes Ack and Sequence with any integer, and nothing else", () => {
    expect(decodeOne('{"type":8,"sequenceId":5}')).toEqual({ type: 8, sequenceId: 5 });
    expect(decodeOne('{"type":9,"sequenceId":5}')).toEqual({ type: 9, sequenceId: 5 });
    expect(decodeOne('{"type":9,"sequenceId":-3}')).toEqual({ type: 9, sequenceId: -3 });
    expect(decodeOne('{"type":8}')).toBe("Invalid message");
    expect(decodeOne('{"type":8,"sequenceId":1.5}')).toBe("Invalid message");
    expect(decodeOne('{"type":9,"sequenceId":"1"}')).toBe("Invalid message");
    expect(decodeOne('{"type":9,"sequenceId":1e300}')).toBe("Invalid message");
  });

  it("decodes any other integer type as unknown", () => {
    expect(decodeOne('{"type":99}')).toEqual({ type: 99, unknown: true });
    expect(decodeOne('{"type":0,"target":5}')).toEqual({ type: 0, unknown: true });
    expect(decodeOne('{"type":-1}')).toEqual({ type: -1, unknown: true });
  });
});

describe("JSON bad input (docs/protocol.md §6, §11)", () => {
  it.each([["hello"], ['{"type":1,'], [""], ["[1]"], ["1"], ["null"], ['"x"'], ['\ufeff{"type":6}']])(
    "closes with Invalid JSON on %j",
    (json) => {
      expect(decodeOne(json)).toBe("Invalid JSON");
    },
  );

  it("treats an empty record as invalid JSON", () => {
    expect(decodeAll(hex("1E"))).toEqual({ messages: [], error: "Invalid JSON" });
  });

  it("treats invalid UTF-8 as invalid JSON", () => {
    const bytes = concat(utf8('{"type":1,"target":"'), hex("FF"), utf8('","arguments":[]}\u001e'));
    expect(decodeAll(bytes)).toEqual({ messages: [], error: "Invalid JSON" });
    const overlong = concat(utf8('{"type":7,"error":"'), hex("C0 AF"), utf8('"}\u001e'));
    expect(decodeAll(overlong).error).toBe("Invalid JSON");
  });

  it.each([
    ['{"target":"X"}'],
    ['{"type":"1"}'],
    ['{"type":1.5}'],
    ['{"type":null}'],
    ['{"type":1,"target":"X","arguments":{}}'],
    ['{"type":1,"arguments":[]}'],
    ['{"type":1,"target":5,"arguments":[]}'],
    ['{"type":1,"target":"X"}'],
  ])("closes with Invalid message on %s (W-BAD-03)", (json) => {
    expect(decodeOne(json)).toBe("Invalid message");
  });

  it("limits nesting to 64 levels, the message being level 1", () => {
    const nested = (levels: number) => `{"type":1,"target":"T","arguments":${"[".repeat(levels)}${"]".repeat(levels)}}`;
    expect(decodeOne(nested(63))).toMatchObject({ type: 1, target: "T" });
    expect(decodeOne(nested(64))).toBe("Invalid JSON");
    expect(decodeOne(`{"type":6,"x":${"[".repeat(16000)}${"]".repeat(16000)}}`)).toBe("Invalid JSON");
  });

  it("accepts a record of exactly the limit, separator included", () => {
    const json = invocationOfSize(MAX - 1);
    const result = decodeAll(record(json));
    expect(result.error).toBeUndefined();
    expect(result.messages).toHaveLength(1);
  });

  it("refuses a record one byte over the limit", () => {
    expect(decodeAll(record(invocationOfSize(MAX)))).toEqual({ messages: [], error: "Message too large" });
  });

  it("detects an oversized record before its separator arrives (W-BAD-01)", () => {
    const decoder = jsonProtocol.createDecoder(MAX);
    const json = utf8(invocationOfSize(40_000));
    expect(decoder.push(json.subarray(0, MAX - 1))).toEqual({ messages: [] });
    expect(decoder.bufferedBytes).toBe(MAX - 1);
    // One more byte without a separator: with its separator the record would be MAX + 1 bytes.
    expect(decoder.push(json.subarray(MAX - 1, MAX))).toEqual({ messages: [], error: "Message too large" });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("completes a record of the limit that arrived in two parts", () => {
    const decoder = jsonProtocol.createDecoder(MAX);
    const bytes = record(invocationOfSize(MAX - 1));
    expect(decoder.push(bytes.subarray(0, MAX - 1))).toEqual({ messages: [] });
    expect(decoder.push(bytes.subarray(MAX - 1)).messages).toHaveLength(1);
  });

  it("returns the messages before a bad record, then stays dead", () => {
    const decoder = jsonProtocol.createDecoder(MAX);
    const result = decoder.push(utf8('{"type":6}\u001e{"type":8,"sequenceId":1}\u001ehello\u001e{"type":6}\u001e{"type":'));
    expect(result).toEqual({ messages: [{ type: 6 }, { type: 8, sequenceId: 1 }], error: "Invalid JSON" });
    expect(decoder.bufferedBytes).toBe(0);
    expect(decoder.push(record('{"type":6}'))).toEqual({ messages: [], error: "Invalid JSON" });
  });

  it("refuses a non-positive limit", () => {
    expect(() => jsonProtocol.createDecoder(0)).toThrow(RangeError);
    expect(() => jsonProtocol.createDecoder(Number.NaN)).toThrow(RangeError);
  });
});

describe("JSON framing across chunks (docs/protocol.md §3.1)", () => {
  const stream = concat(
    record('{"type":6}'),
    record('{"type":1,"invocationId":"0","target":"Subscribe","arguments":[{"value":"é😀"}]}'),
    record('{"type":1,"target":"Ünïcode","arguments":["\u00a0"]}'),
    record('{"type":7}'),
  );
  const expected: HubMessage[] = [
    { type: 6 },
    { type: 1, invocationId: "0", target: "Subscribe", arguments: [{ value: "é😀" }] },
    { type: 1, target: "Ünïcode", arguments: ["\u00a0"] },
    { type: 7 },
  ];

  it("decodes several messages in one chunk (W-WS-04)", () => {
    expect(decodeAll(stream)).toEqual({ messages: expected });
  });

  it("decodes the same messages whatever byte offset splits the stream", () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(decodeAll(stream.subarray(0, offset), stream.subarray(offset))).toEqual({ messages: expected });
    }
  });

  it("decodes a stream fed one byte at a time", () => {
    const decoder = jsonProtocol.createDecoder(MAX);
    const messages: HubMessage[] = [];
    for (let i = 0; i < stream.length; i++) {
      const result = decoder.push(stream.subarray(i, i + 1));
      expect(result.error).toBeUndefined();
      messages.push(...result.messages);
    }
    expect(messages).toEqual(expected);
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("never keeps a reference to a pushed chunk", () => {
    const decoder = jsonProtocol.createDecoder(MAX);
    const chunk = utf8('{"type":6}\u001e{"type":8,"seq');
    expect(decoder.push(chunk).messages).toEqual([{ type: 6 }]);
    expect(decoder.bufferedBytes).toBe(14);
    chunk.fill(0x20);
    expect(decoder.push(utf8('uenceId":2}\u001e')).messages).toEqual([{ type: 8, sequenceId: 2 }]);
  });

  it("decodes records whose bytes are a view into a larger buffer", () => {
    const backing = concat(utf8("garbage"), record('{"type":6}'), utf8("more"));
    expect(decodeAll(backing.subarray(7, 18))).toEqual({ messages: [{ type: 6 }] });
  });
});

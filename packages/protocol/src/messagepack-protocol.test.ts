import { decode } from "@msgpack/msgpack";
import { describe, expect, it } from "vitest";
import type { DecodeResult, HubMessage, ServerMessage } from "./messages.js";
import { PING_MSGPACK, messagePackProtocol } from "./messagepack-protocol.js";
import { concat, hex, toHex, utf8 } from "./test-support.js";
import { encodeVarint, readVarint } from "./varint.js";

const MAX = 32768;

function encoded(message: ServerMessage): string {
  return toHex(messagePackProtocol.encode(message));
}

function decodeAll(...chunks: Uint8Array[]): DecodeResult {
  const decoder = messagePackProtocol.createDecoder(MAX);
  const messages: HubMessage[] = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    messages.push(...result.messages);
    if (result.error !== undefined) return { messages, error: result.error };
  }
  return { messages };
}

/** Frames a hex body with its length prefix. */
function framed(body: string): Uint8Array {
  const bytes = hex(body);
  return concat(encodeVarint(bytes.length), bytes);
}

function decodeOne(body: string): HubMessage | string {
  const result = decodeAll(framed(body));
  if (result.error !== undefined) return result.error;
  expect(result.messages).toHaveLength(1);
  return result.messages[0] as HubMessage;
}

/** The body after the prefix, decoded by the reference library. */
function body(frame: Uint8Array): unknown {
  const prefix = readVarint(frame, 0);
  if (prefix.status !== "ok") throw new Error("no prefix");
  expect(frame.length).toBe(prefix.size + prefix.value);
  return decode(frame.subarray(prefix.size));
}

/** Guards the test vectors themselves: the prefix announces exactly the bytes that follow it. */
function expectWholeFrame(bytes: string): void {
  const frame = hex(bytes);
  const prefix = readVarint(frame, 0);
  expect(prefix.status === "ok" ? prefix.size + prefix.value : -1).toBe(frame.length);
}

const SLOW_CONSUMER = "53 6C 6F 77 20 63 6F 6E 73 75 6D 65 72";
const INVOICE_READY = "69 6E 76 6F 69 63 65 2D 72 65 61 64 79";
const SUBSCRIBE = "53 75 62 73 63 72 69 62 65";

describe("messagePackProtocol identity", () => {
  it("is the Binary protocol named messagepack", () => {
    expect(messagePackProtocol.name).toBe("messagepack");
    expect(messagePackProtocol.transferFormat).toBe("Binary");
    expect(messagePackProtocol.binary).toBe(true);
  });
});

describe("MessagePack encoding: example frames of docs/protocol.md §4.7", () => {
  it("Completion, void", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "void" })).toBe("06 94 03 80 A1 30 02");
  });

  it("Completion, error", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "error", error: "boom" })).toBe("0B 95 03 80 A1 30 01 A4 62 6F 6F 6D");
  });

  it("Completion, result", () => {
    expect(encoded({ type: 3, invocationId: "0", kind: "result", result: { a: 1 } })).toBe("0A 95 03 80 A1 30 03 81 A1 61 01");
    expect(encoded({ type: 3, invocationId: "0", kind: "result", result: null })).toBe("07 95 03 80 A1 30 03 C0");
    expect(encoded({ type: 3, invocationId: "0", kind: "result", result: undefined })).toBe("07 95 03 80 A1 30 03 C0");
  });

  it("Ping", () => {
    expect(encoded({ type: 6 })).toBe("02 91 06");
    expect(toHex(PING_MSGPACK)).toBe("02 91 06");
    messagePackProtocol.encode({ type: 6 }).fill(0);
    expect(toHex(PING_MSGPACK)).toBe("02 91 06");
  });

  it("Close, drain / plain / error: always three elements", () => {
    expect(encoded({ type: 7, allowReconnect: true })).toBe("04 93 07 C0 C3");
    expect(encoded({ type: 7 })).toBe("04 93 07 C0 C2");
    expect(encoded({ type: 7, error: "", allowReconnect: false })).toBe("04 93 07 C0 C2");
    expect(encoded({ type: 7, error: "Slow consumer", allowReconnect: true })).toBe(`11 93 07 AD ${SLOW_CONSUMER} C3`);
    expect(encoded({ type: 7, error: "Slow consumer" })).toBe(`11 93 07 AD ${SLOW_CONSUMER} C2`);
  });

  it("Ack 5 / Sequence 5", () => {
    expect(encoded({ type: 8, sequenceId: 5 })).toBe("03 92 08 05");
    expect(encoded({ type: 9, sequenceId: 5 })).toBe("03 92 09 05");
    expect(encoded({ type: 8, sequenceId: 300 })).toBe("05 92 08 CD 01 2C");
  });

  it("Notification: six elements, map headers, nil id, empty stream ids", () => {
    const expected = `17 96 01 80 C0 AD ${INVOICE_READY} 91 A2 68 69 90`;
    expect(toHex(messagePackProtocol.encodeNotification("invoice-ready", "hi"))).toBe(expected);
    expect(encoded({ type: 1, target: "invoice-ready", arguments: ["hi"] })).toBe(expected);
  });
});

describe("MessagePack encoding of payload values", () => {
  it("writes a multi-byte length prefix for larger bodies", () => {
    const frame = messagePackProtocol.encodeNotification("t", "x".repeat(300));
    expect(toHex(frame.subarray(0, 2))).toBe("B7 02"); // 311 = 0x137
    expect(body(frame)).toEqual([1, {}, null, "t", ["x".repeat(300)], []]);
  });

  it("writes nested JSON data and drops undefined properties", () => {
    const argument = { id: "a", n: -7, f: 1.5, ok: false, none: null, list: [1, "two"], gone: undefined };
    expect(body(messagePackProtocol.encodeNotification("t", argument))).toEqual([
      1,
      {},
      null,
      "t",
      [{ id: "a", n: -7, f: 1.5, ok: false, none: null, list: [1, "two"] }],
      [],
    ]);
  });

  it("writes Dates as ISO strings, never the timestamp extension", () => {
    const frame = messagePackProtocol.encodeNotification("t", { at: new Date(0) });
    expect(body(frame)).toEqual([1, {}, null, "t", [{ at: "1970-01-01T00:00:00.000Z" }], []]);
    expect(toHex(frame)).not.toContain("FF 00 00 00 00");
    expect(toHex(frame)).toBe(toHex(messagePackProtocol.encodeNotification("t", { at: "1970-01-01T00:00:00.000Z" })));
  });

  it("writes other non-plain values as JSON would", () => {
    class Point {
      constructor(
        readonly x: number,
        readonly y: number,
      ) {}
    }
    expect(body(messagePackProtocol.encode({ type: 3, invocationId: "1", kind: "result", result: [new Point(1, 2), new Map()] }))).toEqual([
      3,
      {},
      "1",
      3,
      [{ x: 1, y: 2 }, {}],
    ]);
  });

  it("throws as JSON does for values JSON cannot write", () => {
    expect(() => messagePackProtocol.encodeNotification("t", { n: 1n })).toThrow(TypeError);
    const cyclic: Record<string, unknown> = { d: new Date(0) };
    cyclic["self"] = cyclic;
    expect(() => messagePackProtocol.encodeNotification("t", cyclic)).toThrow(TypeError);
  });

  it("stays usable after a failed encode", () => {
    expect(() => messagePackProtocol.encodeNotification("t", 1n)).toThrow();
    expect(encoded({ type: 8, sequenceId: 5 })).toBe("03 92 08 05");
  });
});

describe("MessagePack decoding of each message type (docs/protocol.md §4.4)", () => {
  it("decodes the JS client's invoke: 5 elements", () => {
    expect(decodeAll(hex(`11 95 01 80 A1 30 A9 ${SUBSCRIBE} 91 80`))).toEqual({
      messages: [{ type: 1, headers: {}, invocationId: "0", target: "Subscribe", arguments: [{}] }],
    });
  });

  it("decodes the .NET client's invoke: 6 elements with headers", () => {
    // [1, {"traceparent":"00-1"}, "0", "Subscribe", [{}], []]
    expect(decodeOne(`96 01 81 AB 74 72 61 63 65 70 61 72 65 6E 74 A4 30 30 2D 31 A1 30 A9 ${SUBSCRIBE} 91 80 90`)).toEqual({
      type: 1,
      headers: { traceparent: "00-1" },
      invocationId: "0",
      target: "Subscribe",
      arguments: [{}],
      streamIds: [],
    });
  });

  it("treats a nil or empty invocationId as none", () => {
    expect(decodeOne("95 01 80 C0 A1 54 90")).toEqual({ type: 1, headers: {}, target: "T", arguments: [] });
    expect(decodeOne("95 01 80 A0 A1 54 90")).toEqual({ type: 1, headers: {}, target: "T", arguments: [] });
  });

  it("decodes the server's own notification layout", () => {
    expect(decodeAll(messagePackProtocol.encodeNotification("invoice-ready", { id: 1 }))).toEqual({
      messages: [{ type: 1, headers: {}, target: "invoice-ready", arguments: [{ id: 1 }], streamIds: [] }],
    });
  });

  it("decodes stream ids and refuses ill-typed ones", () => {
    expect(decodeOne("96 01 80 A1 31 A1 54 91 01 91 A1 32")).toEqual({
      type: 1,
      headers: {},
      invocationId: "1",
      target: "T",
      arguments: [1],
      streamIds: ["2"],
    });
    expect(decodeOne("96 01 80 A1 31 A1 54 90 91 02")).toBe("Invalid message");
  });

  it("keeps string header values and accepts nil headers", () => {
    // {"a":"b","n":1}
    expect(decodeOne("95 01 82 A1 61 A1 62 A1 6E 01 C0 A1 54 90")).toEqual({ type: 1, headers: { a: "b" }, target: "T", arguments: [] });
    expect(decodeOne("95 01 C0 C0 A1 54 90")).toEqual({ type: 1, target: "T", arguments: [] });
    expect(decodeOne("95 01 90 C0 A1 54 90")).toBe("Invalid message");
  });

  it("decodes the Completion frames of docs/protocol.md §4.7", () => {
    expect(decodeAll(hex("06 94 03 80 A1 30 02")).messages).toEqual([{ type: 3, invocationId: "0" }]);
    expect(decodeAll(hex("0B 95 03 80 A1 30 01 A4 62 6F 6F 6D")).messages).toEqual([{ type: 3, invocationId: "0", error: "boom" }]);
    expect(decodeAll(hex("0A 95 03 80 A1 30 03 81 A1 61 01")).messages).toEqual([{ type: 3, invocationId: "0", result: { a: 1 } }]);
  });

  it("refuses malformed Completions", () => {
    expect(decodeOne("94 03 80 A1 30 01")).toBe("Invalid message"); // error kind without error
    expect(decodeOne("94 03 80 A1 30 03")).toBe("Invalid message"); // result kind without result
    expect(decodeOne("95 03 80 A1 30 01 05")).toBe("Invalid message"); // error not a string
    expect(decodeOne("94 03 80 A1 30 04")).toBe("Invalid message"); // unknown kind
    expect(decodeOne("94 03 80 C0 02")).toBe("Invalid message"); // nil id
  });

  it("decodes StreamItem, StreamInvocation and CancelInvocation", () => {
    expect(decodeOne("94 02 80 A1 31 2A")).toEqual({ type: 2, invocationId: "1", item: 42 });
    expect(decodeOne("95 04 80 A1 31 A1 54 90")).toEqual({ type: 4, headers: {}, invocationId: "1", target: "T", arguments: [] });
    expect(decodeOne("93 05 80 A1 31")).toEqual({ type: 5, invocationId: "1" });
  });

  it("requires a non-empty invocationId on StreamInvocation", () => {
    expect(decodeOne("95 04 80 C0 A1 54 90")).toBe("Invalid message");
    expect(decodeOne("95 04 80 A0 A1 54 90")).toBe("Invalid message");
  });

  it("decodes Ping, Close, Ack and Sequence frames of docs/protocol.md §4.7", () => {
    expect(decodeAll(hex("02 91 06")).messages).toEqual([{ type: 6 }]);
    expect(decodeAll(hex("04 93 07 C0 C3")).messages).toEqual([{ type: 7, allowReconnect: true }]);
    expect(decodeAll(hex("04 93 07 C0 C2")).messages).toEqual([{ type: 7, allowReconnect: false }]);
    expect(decodeAll(hex("03 92 07 C0")).messages).toEqual([{ type: 7 }]);
    expect(decodeAll(hex(`11 93 07 AD ${SLOW_CONSUMER} C3`)).messages).toEqual([{ type: 7, error: "Slow consumer", allowReconnect: true }]);
    expect(decodeAll(hex("03 92 08 05")).messages).toEqual([{ type: 8, sequenceId: 5 }]);
    expect(decodeAll(hex("03 92 09 05")).messages).toEqual([{ type: 9, sequenceId: 5 }]);
    expect(decodeOne("92 09 FD")).toEqual({ type: 9, sequenceId: -3 });
  });

  it("refuses ill-typed Close, Ack and Sequence fields", () => {
    expect(decodeOne("93 07 01 C3")).toBe("Invalid message");
    expect(decodeOne("93 07 C0 01")).toBe("Invalid message");
    expect(decodeOne("92 08 A1 31")).toBe("Invalid message");
    expect(decodeOne("92 09 C0")).toBe("Invalid message");
    expect(decodeOne("92 09 CB 3F F8 00 00 00 00 00 00")).toBe("Invalid message"); // 1.5
  });

  it("decodes any other integer type as unknown, whatever follows", () => {
    expect(decodeOne("91 63")).toEqual({ type: 99, unknown: true });
    expect(decodeOne("92 00 C0")).toEqual({ type: 0, unknown: true });
  });

  it("ignores extra trailing elements", () => {
    expect(decodeOne("92 06 01")).toEqual({ type: 6 });
    expect(decodeOne("93 08 05 C0")).toEqual({ type: 8, sequenceId: 5 });
  });
});

describe("MessagePack bad input (docs/protocol.md §6, §11, W-BAD-04)", () => {
  it.each([
    ["FF FF FF FF 08", "prefix with fifth byte above 07"],
    ["00", "zero length"],
    ["02 C1 C1", "never-used byte"],
    ["01 C0", "body not an array"],
    ["02 81 06", "body a map"],
    ["03 91 06 C0", "extra bytes after the array"],
    ["03 95 01 A5", "truncated body"],
    ["0D 95 01 80 C0 A1 54 91 D6 FF 00 00 00 00", "timestamp extension"],
    ["0A 95 01 80 C0 A1 54 91 C4 01 00", "bin value"],
    ["10 95 01 80 C0 A1 54 91 CB 7F F8 00 00 00 00 00 00", "NaN"],
    ["0A 95 01 80 C0 A1 54 91 81 C0 01", "nil map key"],
    ["13 95 01 80 C0 A1 54 91 81 A9 5F 5F 70 72 6F 74 6F 5F 5F 01", "__proto__ map key"],
    ["0C 95 01 80 C0 A1 54 91 DD 7F FF FF FF", "array announcing 2^31 elements"],
  ])("%s (%s) → Invalid MessagePack", (bytes, reason) => {
    if (reason !== "prefix with fifth byte above 07" && reason !== "zero length") expectWholeFrame(bytes);
    expect(decodeAll(hex(bytes))).toEqual({ messages: [], error: "Invalid MessagePack" });
  });

  it.each([
    ["03 92 01 80", "Invocation of two elements"],
    ["01 90", "empty array"],
    ["02 91 A0", "type not an integer"],
    ["0A 91 CB 3F F8 00 00 00 00 00 00", "type 1.5"],
    ["06 94 01 80 C0 A1 54", "Invocation of four elements"],
    ["06 95 01 80 C0 05 90", "target not a string"],
    ["07 95 01 80 C0 A1 54 C0", "arguments nil"],
    ["07 95 01 80 C0 A1 54 80", "arguments a map"],
    ["05 93 02 80 A1 31", "StreamItem of three elements"],
    ["03 92 05 80", "CancelInvocation of two elements"],
    ["02 91 07", "Close of one element"],
    ["02 91 08", "Ack of one element"],
  ])("%s (%s) → Invalid message", (bytes) => {
    expectWholeFrame(bytes);
    expect(decodeAll(hex(bytes))).toEqual({ messages: [], error: "Invalid message" });
  });

  it("limits nesting to 64 levels, the message being level 1", () => {
    const nested = (levels: number) => `95 01 80 C0 A1 54 ${"91 ".repeat(levels - 1)}90`;
    expect(decodeOne(nested(63))).toMatchObject({ type: 1, target: "T" });
    expect(decodeOne(nested(64))).toBe("Invalid MessagePack");
    expect(decodeOne(`92 06 ${"91 ".repeat(20000)}90`)).toBe("Invalid MessagePack");
  });

  it("refuses an oversized message from its prefix alone (W-BAD-01)", () => {
    const decoder = messagePackProtocol.createDecoder(MAX);
    expect(decoder.push(hex("80 80"))).toEqual({ messages: [] });
    expect(decoder.bufferedBytes).toBe(2);
    expect(decoder.push(hex("04"))).toEqual({ messages: [], error: "Message too large" });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("checks the size only for a valid prefix", () => {
    expect(decodeAll(hex("FF FF FF FF 07"))).toEqual({ messages: [], error: "Message too large" });
  });

  it("accepts prefix plus body of exactly the limit, not one byte more", () => {
    // [6, "x…"]: 92 06 DA hi lo + n bytes, behind a 3-byte prefix.
    const ping = (stringBytes: number) => {
      const text = new Uint8Array(stringBytes).fill(0x78);
      const bodyBytes = concat(hex("92 06 DA"), Uint8Array.of(stringBytes >> 8, stringBytes & 0xff), text);
      return concat(encodeVarint(bodyBytes.length), bodyBytes);
    };
    expect(ping(32760).length).toBe(MAX);
    expect(decodeAll(ping(32760))).toEqual({ messages: [{ type: 6 }] });
    expect(decodeAll(ping(32761))).toEqual({ messages: [], error: "Message too large" });
  });

  it("returns the messages before a bad frame, then stays dead", () => {
    const decoder = messagePackProtocol.createDecoder(MAX);
    expect(decoder.push(hex("02 91 06 03 92 08 05 02 C1 C1 02 91 06"))).toEqual({
      messages: [{ type: 6 }, { type: 8, sequenceId: 5 }],
      error: "Invalid MessagePack",
    });
    expect(decoder.push(hex("02 91 06"))).toEqual({ messages: [], error: "Invalid MessagePack" });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("refuses a non-positive limit", () => {
    expect(() => messagePackProtocol.createDecoder(-1)).toThrow(RangeError);
  });
});

describe("MessagePack framing across chunks (docs/protocol.md §3.1)", () => {
  const bigArgument = "é".repeat(150); // 300 bytes: a two-byte prefix
  const stream = concat(
    hex(`11 95 01 80 A1 30 A9 ${SUBSCRIBE} 91 80`),
    hex("02 91 06"),
    messagePackProtocol.encodeNotification("invoice-ready", bigArgument),
    hex("04 93 07 C0 C3"),
  );
  const expected: HubMessage[] = [
    { type: 1, headers: {}, invocationId: "0", target: "Subscribe", arguments: [{}] },
    { type: 6 },
    { type: 1, headers: {}, target: "invoice-ready", arguments: [bigArgument], streamIds: [] },
    { type: 7, allowReconnect: true },
  ];

  it("decodes several messages in one chunk", () => {
    expect(decodeAll(stream)).toEqual({ messages: expected });
  });

  it("decodes the same messages whatever byte offset splits the stream", () => {
    for (let offset = 0; offset <= stream.length; offset++) {
      expect(decodeAll(stream.subarray(0, offset), stream.subarray(offset))).toEqual({ messages: expected });
    }
  });

  it("decodes the same messages whatever two offsets split the stream in three", () => {
    for (let first = 0; first <= stream.length; first += 7) {
      for (let second = first; second <= stream.length; second += 5) {
        expect(decodeAll(stream.subarray(0, first), stream.subarray(first, second), stream.subarray(second))).toEqual({
          messages: expected,
        });
      }
    }
  });

  it("decodes a stream fed one byte at a time", () => {
    const decoder = messagePackProtocol.createDecoder(MAX);
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
    const decoder = messagePackProtocol.createDecoder(MAX);
    const chunk = hex("02 91 06 03 92");
    expect(decoder.push(chunk).messages).toEqual([{ type: 6 }]);
    expect(decoder.bufferedBytes).toBe(2);
    chunk.fill(0);
    expect(decoder.push(hex("08 05"))).toEqual({ messages: [{ type: 8, sequenceId: 5 }] });
    expect(decoder.bufferedBytes).toBe(0);
  });

  it("decodes frames that are a view into a larger buffer", () => {
    const backing = concat(hex("FF FF"), hex("03 92 08 05"), hex("FF"));
    expect(decodeAll(backing.subarray(2, 6))).toEqual({ messages: [{ type: 8, sequenceId: 5 }] });
  });

  it("round-trips every server message through its own decoder", () => {
    const frames = concat(
      messagePackProtocol.encode({ type: 3, invocationId: "9", kind: "result", result: [1, { a: "b" }] }),
      messagePackProtocol.encode({ type: 7, error: "Client timeout", allowReconnect: true }),
      messagePackProtocol.encode({ type: 9, sequenceId: 70000 }),
      utf8(""),
    );
    expect(decodeAll(frames).messages).toEqual([
      { type: 3, invocationId: "9", result: [1, { a: "b" }] },
      { type: 7, error: "Client timeout", allowReconnect: true },
      { type: 9, sequenceId: 70000 },
    ]);
  });
});

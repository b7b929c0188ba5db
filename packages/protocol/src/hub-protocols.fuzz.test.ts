import assert from "node:assert/strict";
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { chunked, concatBytes, fc, fuzz, fuzzTimeoutMs, mutated } from "@tidings/fuzzing";
import { describe, it } from "vitest";
import { jsonProtocol } from "./json-protocol.js";
import type { HubMessage, HubProtocol, ServerMessage } from "./messages.js";
import { messagePackProtocol } from "./messagepack-protocol.js";
import { MAX_NESTING_DEPTH, isBoundedPlainData } from "./plain-data.js";
import { encodeVarint } from "./varint.js";

/*
 * Property-based fuzzing of both hub protocol decoders with what a client can send: valid messages,
 * messages with wrong field types, mutated frames, random bytes, all cut into random chunks.
 */

const MAX_MESSAGE_BYTES = 4096;
const DECODE_ERRORS = new Set(["Message too large", "Invalid JSON", "Invalid MessagePack", "Invalid message"]);
const textEncoder = new TextEncoder();

/** Small JSON data: cheap to generate, so the budget goes to decoding. */
const data = fc.jsonValue({ maxDepth: 2 });

/** Anything a field may hold: mostly JSON data, sometimes nested deeper than the decoders allow. */
const anyValue = fc.oneof(
  { weight: 6, arbitrary: data },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 80 }).map((depth) => JSON.parse("[".repeat(depth) + "]".repeat(depth)) as unknown) },
);

function field<T>(good: fc.Arbitrary<T>): fc.Arbitrary<unknown> {
  return fc.oneof({ weight: 4, arbitrary: good }, { weight: 1, arbitrary: anyValue }, { weight: 1, arbitrary: fc.constant(undefined) });
}

const messageType = fc.oneof(
  { weight: 8, arbitrary: fc.integer({ min: 1, max: 9 }) },
  { weight: 1, arbitrary: fc.integer({ min: -5, max: 300 }) },
  { weight: 1, arbitrary: anyValue },
);
const headers = fc.dictionary(fc.string({ maxLength: 8 }), fc.oneof(fc.string({ maxLength: 8 }), anyValue), { maxKeys: 3 });
const id = fc.oneof(fc.string({ maxLength: 12 }), fc.constant(null));

/** The fields of a client message, each well typed most of the time and anything otherwise. */
const clientFields = fc.record({
  type: messageType,
  headers: field(headers),
  invocationId: field(id),
  target: field(fc.string({ maxLength: 16 })),
  arguments: field(fc.array(data, { maxLength: 3 })),
  streamIds: field(fc.array(fc.string({ maxLength: 6 }), { maxLength: 2 })),
  item: field(data),
  result: field(data),
  error: field(fc.string({ maxLength: 16 })),
  allowReconnect: field(fc.boolean()),
  sequenceId: field(fc.integer()),
  resultKind: field(fc.integer({ min: 1, max: 3 })),
});
type ClientFields = typeof clientFields extends fc.Arbitrary<infer T> ? T : never;

function jsonRecord(f: ClientFields): Uint8Array {
  return textEncoder.encode(`${JSON.stringify(f)}\u001e`);
}

/** The MessagePack array layout (docs/protocol.md §4.4) for the message's type, from the same fields. */
function msgpackFrame(f: ClientFields): Uint8Array {
  let array: unknown[];
  switch (f.type) {
    case 1:
    case 4:
      array = [f.type, f.headers, f.invocationId, f.target, f.arguments, f.streamIds];
      break;
    case 2:
      array = [2, f.headers, f.invocationId, f.item];
      break;
    case 3:
      array = [3, f.headers, f.invocationId, f.resultKind, f.resultKind === 1 ? f.error : f.result];
      break;
    case 5:
      array = [5, f.headers, f.invocationId];
      break;
    case 7:
      array = [7, f.error, f.allowReconnect];
      break;
    case 8:
    case 9:
      array = [f.type, f.sequenceId];
      break;
    default:
      array = [f.type, f.headers];
  }
  // undefined marks a missing trailing field: cut the array there, as a short message would be.
  const missing = array.indexOf(undefined);
  const body = msgpackEncode(missing === -1 ? array : array.slice(0, missing));
  return concatBytes(encodeVarint(body.length), body);
}

function stream(frame: (f: ClientFields) => Uint8Array): fc.Arbitrary<Uint8Array> {
  return fc.array(clientFields.map(frame), { minLength: 1, maxLength: 3 }).map((frames) => concatBytes(...frames));
}

/** Deep nesting inside one otherwise valid invocation. */
function deepJson(depth: number): Uint8Array {
  return textEncoder.encode(`{"type":1,"target":"t","arguments":${"[".repeat(depth)}${"]".repeat(depth)}}\u001e`);
}
function deepMsgpack(depth: number): Uint8Array {
  const body = concatBytes(Uint8Array.of(0x95, 0x01, 0x80, 0xc0, 0xa1, 0x74), new Uint8Array(depth).fill(0x91), Uint8Array.of(0x90));
  return concatBytes(encodeVarint(body.length), body);
}

/** Huge or invalid length prefixes, truncated varints, 0 lengths. */
const badPrefix = fc.oneof(
  fc.constantFrom(
    Uint8Array.of(0x00),
    Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x0f),
    Uint8Array.of(0xff, 0xff, 0xff, 0xff, 0x07),
    Uint8Array.of(0x80, 0x80, 0x80, 0x80, 0x80, 0x01),
    Uint8Array.of(0x81, 0x00),
  ),
  fc.uint8Array({ minLength: 1, maxLength: 6 }).map((bytes) => bytes.map((b, i) => (i < bytes.length - 1 ? b | 0x80 : b))),
);

function inputs(protocol: HubProtocol): fc.Arbitrary<Uint8Array> {
  const valid = stream(protocol === jsonProtocol ? jsonRecord : msgpackFrame);
  const deep = fc.integer({ min: MAX_NESTING_DEPTH - 3, max: 400 }).map(protocol === jsonProtocol ? deepJson : deepMsgpack);
  const extras: fc.Arbitrary<Uint8Array>[] =
    protocol === jsonProtocol
      ? [fc.string({ unit: "binary", maxLength: 64 }).map((s) => textEncoder.encode(`${s}\u001e`))]
      : [fc.tuple(badPrefix, fc.uint8Array({ maxLength: 32 })).map(([prefix, body]) => concatBytes(prefix, body))];
  return fc.oneof(
    { weight: 4, arbitrary: valid },
    { weight: 4, arbitrary: mutated(valid) },
    { weight: 1, arbitrary: deep },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 256 }) },
    { weight: 1, arbitrary: fc.oneof(...extras) },
  );
}

interface Decoded {
  messages: HubMessage[];
  error?: string;
}

function decodeChunks(protocol: HubProtocol, chunks: readonly Uint8Array[]): Decoded {
  const decoder = protocol.createDecoder(MAX_MESSAGE_BYTES);
  const messages: HubMessage[] = [];
  for (const chunk of chunks) {
    const result = decoder.push(chunk);
    messages.push(...result.messages);
    if (result.error !== undefined) {
      // A dead decoder stays dead with the same error and holds nothing.
      assert.deepStrictEqual(decoder.push(chunk), { messages: [], error: result.error });
      assert.equal(decoder.bufferedBytes, 0);
      return { messages, error: result.error };
    }
    assert.ok(decoder.bufferedBytes < MAX_MESSAGE_BYTES);
  }
  return { messages };
}

/** The shape promised by messages.ts: the gateway relies on it without re-checking. */
function checkMessage(m: HubMessage): void {
  assert.ok(Number.isInteger(m.type));
  if ("unknown" in m) return assert.ok(m.type < 1 || m.type > 9);
  switch (m.type) {
    case 1:
    case 4:
      assert.equal(typeof m.target, "string");
      assert.ok(isBoundedPlainData(m.arguments, MAX_NESTING_DEPTH) && Array.isArray(m.arguments));
      assert.ok(m.invocationId === undefined || (typeof m.invocationId === "string" && m.invocationId !== ""));
      assert.ok((m.streamIds ?? []).every((s) => typeof s === "string"));
      assert.ok(Object.values(m.headers ?? {}).every((v) => typeof v === "string"));
      return;
    case 2:
      assert.equal(typeof m.invocationId, "string");
      return assert.ok(isBoundedPlainData(m.item, MAX_NESTING_DEPTH));
    case 3:
      assert.equal(typeof m.invocationId, "string");
      assert.ok(m.error === undefined || m.result === undefined);
      return assert.ok(m.result === undefined || isBoundedPlainData(m.result, MAX_NESTING_DEPTH));
    case 5:
      return assert.equal(typeof m.invocationId, "string");
    case 7:
      return assert.ok(m.error === undefined || typeof m.error === "string");
    case 8:
    case 9:
      return assert.ok(Number.isSafeInteger(m.sequenceId));
  }
}

/** True when an object anywhere in `value` has an own "__proto__" key (fc.jsonValue, like JSON.parse, can make one). */
function hasProtoKey(value: unknown): boolean {
  if (typeof value !== "object" || value === null) return false;
  if (!Array.isArray(value) && Object.prototype.hasOwnProperty.call(value, "__proto__")) return true;
  return Object.values(value).some(hasProtoKey);
}

/**
 * Data a server message carries. Never a "__proto__" key: envelopes with one are refused at ingest, so no
 * notification, replay or hub result holds one (the MessagePack library here and in the clients refuses it).
 */
const serverData = fc.jsonValue({ maxDepth: 4 }).filter((value) => !hasProtoKey(value));

/** What the server sends and a client may echo back in the same shape (Invocation without id, Completion, Ping, Close, Ack, Sequence). */
const serverMessage: fc.Arbitrary<ServerMessage> = fc.oneof(
  fc.record({
    type: fc.constant(1 as const),
    target: fc.string({ maxLength: 32 }),
    arguments: fc.array(serverData, { maxLength: 3 }),
  }),
  fc.record({
    type: fc.constant(3 as const),
    invocationId: fc.string({ minLength: 1, maxLength: 12 }),
    kind: fc.constant("void" as const),
  }),
  fc.record({
    type: fc.constant(3 as const),
    invocationId: fc.string({ minLength: 1, maxLength: 12 }),
    kind: fc.constant("result" as const),
    result: serverData,
  }),
  fc.record({
    type: fc.constant(3 as const),
    invocationId: fc.string({ minLength: 1, maxLength: 12 }),
    kind: fc.constant("error" as const),
    error: fc.string({ minLength: 1, maxLength: 40 }),
  }),
  fc.constant({ type: 6 as const }),
  fc.record({ type: fc.constant(7 as const), error: fc.string({ minLength: 1, maxLength: 40 }), allowReconnect: fc.boolean() }),
  fc.record({ type: fc.constantFrom(8 as const, 9 as const), sequenceId: fc.maxSafeInteger() }),
);

/** The decoded form of a server message, in the data model both protocols share (-0 reads as 0, null result = no result). */
function expected(m: ServerMessage): unknown {
  switch (m.type) {
    case 1:
      return { type: 1, target: m.target, arguments: m.arguments };
    case 3:
      if (m.kind === "error") return { type: 3, invocationId: m.invocationId, error: m.error };
      if (m.kind === "result" && m.result !== null) return { type: 3, invocationId: m.invocationId, result: m.result };
      return { type: 3, invocationId: m.invocationId };
    case 7:
      return m.allowReconnect ? { type: 7, error: m.error, allowReconnect: true } : { type: 7, error: m.error, allowReconnect: false };
    default:
      return m;
  }
}

function comparable(m: HubMessage): unknown {
  const copy: Record<string, unknown> = { ...m };
  // MessagePack always writes headers, streamIds and allowReconnect; JSON omits what is empty or false.
  if (m.type === 1) {
    delete copy["headers"];
    delete copy["streamIds"];
  }
  if (m.type === 7 && copy["allowReconnect"] === undefined) copy["allowReconnect"] = false;
  if (m.type === 3 && copy["result"] === null) delete copy["result"];
  return JSON.parse(JSON.stringify(copy));
}

for (const protocol of [jsonProtocol, messagePackProtocol]) {
  describe(`${protocol.name} hub protocol fuzz`, { timeout: fuzzTimeoutMs() }, () => {
    it("decodes any client byte stream without throwing, into well-formed messages or a documented Close error", async () => {
      await fuzz(
        `${protocol.name} decoder`,
        chunked(inputs(protocol)),
        (chunks) => {
          const decoded = decodeChunks(protocol, chunks);
          assert.ok(decoded.error === undefined || DECODE_ERRORS.has(decoded.error), decoded.error);
          decoded.messages.forEach(checkMessage);
        },
        { share: 0.1, maxMsPerInput: 1000 },
      );
    });

    it("decodes the same messages and error however the stream is split", async () => {
      await fuzz(
        `${protocol.name} decoder split`,
        chunked(inputs(protocol)),
        (chunks) => {
          assert.deepStrictEqual(decodeChunks(protocol, chunks), decodeChunks(protocol, [concatBytes(...chunks)]));
        },
        { share: 0.05, maxMsPerInput: 1000 },
      );
    });

    it("round-trips every server message through encode and decode", async () => {
      await fuzz(
        `${protocol.name} encode→decode`,
        serverMessage,
        (message) => {
          const decoded = decodeChunks(protocol, [protocol.encode(message)]);
          assert.equal(decoded.error, undefined);
          assert.deepStrictEqual(decoded.messages.map(comparable), [JSON.parse(JSON.stringify(expected(message)))]);
          if (message.type === 1) {
            // The fan-out shortcut writes the very bytes of the general encoder.
            const argument = message.arguments[0] ?? null;
            assert.deepStrictEqual(
              protocol.encodeNotification(message.target, argument),
              protocol.encode({ type: 1, target: message.target, arguments: [argument] }),
            );
          }
        },
        { share: 0.03, maxMsPerInput: 1000 },
      );
    });
  });
}

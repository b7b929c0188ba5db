import assert from "node:assert/strict";
import { concatBytes, fc, fuzz, fuzzTimeoutMs, mutated } from "@tidings/fuzzing";
import { describe, it } from "vitest";
import { AUDIENCE_KINDS } from "./audience.js";
import { toDelivered } from "./delivered.js";
import type { Notification } from "./envelope.js";
import { encodeFramedNodeMessage, NodeMessage, notificationCodec } from "./node-messages.js";

/*
 * Property-based fuzzing of what a gateway node reads from `tidings.v1.node.<nodeId>`: valid node
 * messages in both formats, then the same mutated (edits, truncation at every length, header fields
 * rewritten, header and frame from different notifications), and random bytes.
 *
 * `NodeMessage.read` must throw a documented error (a TypeError whose message starts with
 * "framed node message: " or "notification: ") or return a WELL-FORMED message:
 * - id and audienceId are strings, audienceType a known audience type, timeStamp() a string;
 * - framed: the header's three lengths and the frame add up to the input; each header string is
 *   exactly its bytes decoded (ASCII flag: one character per byte; else UTF-16LE, every byte used);
 *   jsonFrame is a view of the input's tail ending in the record separator (it goes to JSON clients
 *   as is); notification() either throws a documented "framed node message: " TypeError or returns a
 *   notification agreeing with the header (id, audienceId, audienceType, timeStamp) whose frame is an
 *   Invocation (type 1) of target `type` with exactly that one argument;
 * - JSON: json is the input, which is strict UTF-8 JSON (no byte-order mark, no invalid sequence: the
 *   gateway splices client frames from these bytes) of the notification(), which agrees with the fields.
 */

const FRAMED_MARKER = 0x01;
const RS = 0x1e;
const DOCUMENTED = /^(framed node message|notification): /;
const AUDIENCE_TYPES = new Set(Object.keys(AUDIENCE_KINDS).map(Number));
const strictUtf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Strings of every shape the two string encodings meet: ASCII, any code unit (lone surrogates too), JSON escapes. */
const text = (minLength: number) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ minLength, maxLength: 24 }) },
    { weight: 1, arbitrary: fc.string({ unit: "binary", minLength, maxLength: 12 }) },
    {
      weight: 1,
      arbitrary: fc.string({
        unit: fc.constantFrom("\ud800", "\udfff", "é", "😀", '"', "\\", "\u2028", "\u0000", "a"),
        minLength,
        maxLength: 8,
      }),
    },
  );
const isoDate = fc
  .date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true })
  .map((d) => d.toISOString());

/** Notifications as a router holds them (members in wire order, so both encoder paths run). */
const notification: fc.Arbitrary<Notification> = fc.record({
  id: text(1),
  type: fc.oneof({ weight: 4, arbitrary: fc.stringMatching(/^[A-Za-z0-9._:-]{1,12}$/u) }, { weight: 1, arbitrary: text(1) }),
  body: fc.jsonValue({ maxDepth: 2 }),
  routing: fc.record({
    audienceType: fc.constantFrom(1, 2, 3, 4, 5),
    audienceValue: text(0),
    tenantId: fc.option(text(0), { nil: null }),
    audienceId: text(1),
  }),
  metadata: fc.record({
    producer: text(1),
    timeStamp: fc.oneof({ weight: 4, arbitrary: isoDate }, { weight: 1, arbitrary: text(0) }),
    isPersisted: fc.boolean(),
    persistedTTL: fc.option(isoDate, { nil: null }),
  }),
});

const framed = notification.map(encodeFramedNodeMessage);
const json = notification.map((n) => notificationCodec.encode(n));
const valid = fc.oneof(framed, json);

function assertDocumentedError(err: unknown, prefix = DOCUMENTED): void {
  assert.ok(err instanceof TypeError, `not a TypeError: ${String(err)}`);
  assert.match(err.message, prefix);
}

/** The notification agrees with what the message says without decoding it. */
function assertAgrees(n: Notification, m: NodeMessage, timeStamp: string): void {
  assert.equal(typeof n.type, "string");
  assert.equal(n.id, m.id);
  assert.equal(n.routing.audienceId, m.audienceId);
  assert.equal(n.routing.audienceType, m.audienceType);
  assert.equal(n.metadata.timeStamp, timeStamp);
}

function assertWellFormed(m: NodeMessage, data: Uint8Array): void {
  assert.equal(typeof m.id, "string");
  assert.equal(typeof m.audienceId, "string");
  assert.ok(AUDIENCE_TYPES.has(m.audienceType), `audience type ${String(m.audienceType)}`);
  const timeStamp = m.timeStamp();
  assert.equal(typeof timeStamp, "string");
  if (data[0] === FRAMED_MARKER) {
    assert.equal(m.json, null);
    const frame = m.jsonFrame;
    assert.ok(frame !== null && frame.byteLength > 0, "a framed message has a frame");
    assert.equal(frame.buffer, data.buffer);
    assert.equal(frame.byteOffset + frame.byteLength, data.byteOffset + data.byteLength, "the frame is the input's tail");
    assert.equal(frame[frame.byteLength - 1], RS, "the frame ends with the record separator");
    const encoding = (data[2]! & 1) !== 0 ? "latin1" : "utf16le";
    let at = 8;
    for (const [s, bytes] of [
      [m.id, data[4]! | (data[5]! << 8)],
      [m.audienceId, data[6]! | (data[7]! << 8)],
      [timeStamp, data[3]!],
    ] as const) {
      assert.ok(Buffer.from(s, encoding).equals(data.subarray(at, at + bytes)), `header string at ${at} is its ${bytes} bytes`);
      at += bytes;
    }
    assert.equal(at + frame.byteLength, data.byteLength, "header lengths and frame add up to the message");
    let n: Notification;
    try {
      n = m.notification();
    } catch (err) {
      assertDocumentedError(err, /^framed node message: /);
      return;
    }
    assertAgrees(n, m, timeStamp);
    const invocation = JSON.parse(strictUtf8.decode(frame.subarray(0, -1))) as { type: unknown; target: unknown; arguments: unknown[] };
    assert.equal(invocation.type, 1);
    assert.equal(invocation.target, n.type);
    assert.equal(invocation.arguments.length, 1);
  } else {
    assert.equal(m.json, data);
    assert.equal(m.jsonFrame, null);
    const n = m.notification();
    assertAgrees(n, m, timeStamp);
    assert.deepStrictEqual(JSON.parse(strictUtf8.decode(data)), n);
  }
}

/** Reads `data` as a gateway node does; the property every input must have. */
function check(data: Uint8Array): void {
  const before = Buffer.from(data);
  let m: NodeMessage;
  try {
    m = NodeMessage.read(data);
  } catch (err) {
    assertDocumentedError(err);
    return;
  }
  assertWellFormed(m, data);
  assert.ok(before.equals(data), "reading does not change the bytes");
}

/** A framed message with header fields rewritten: other audience types and flags, lengths up to 0xffff (past the end). */
const headerEdits = fc
  .tuple(
    framed,
    fc.record(
      {
        audienceType: fc.oneof(fc.constantFrom(0, 1, 5, 6, 0x7f, 0xff), fc.integer({ min: 0, max: 255 })),
        flags: fc.integer({ min: 0, max: 255 }),
        timeStampBytes: fc.integer({ min: 0, max: 255 }),
        idBytes: fc.oneof(
          fc.integer({ min: 0, max: 64 }),
          fc.constantFrom(0xff, 0x100, 0xfffe, 0xffff),
          fc.integer({ min: 0, max: 0xffff }),
        ),
        audienceIdBytes: fc.oneof(
          fc.integer({ min: 0, max: 64 }),
          fc.constantFrom(0xff, 0x100, 0xfffe, 0xffff),
          fc.integer({ min: 0, max: 0xffff }),
        ),
      },
      { requiredKeys: [] },
    ),
  )
  .map(([bytes, edit]) => {
    const out = Buffer.from(bytes);
    if (edit.audienceType !== undefined) out[1] = edit.audienceType;
    if (edit.flags !== undefined) out[2] = edit.flags;
    if (edit.timeStampBytes !== undefined) out[3] = edit.timeStampBytes;
    if (edit.idBytes !== undefined) out.writeUInt16LE(edit.idBytes, 4);
    if (edit.audienceIdBytes !== undefined) out.writeUInt16LE(edit.audienceIdBytes, 6);
    return new Uint8Array(out);
  });

/** The header of one notification with the frame of another: the second differs from the first in one field. */
const disagreements = fc
  .tuple(notification, notification, fc.constantFrom("id", "audienceId", "audienceType", "timeStamp", "target", "all"))
  .map(([a, b, field]) => {
    const header: Notification = {
      ...a,
      id: field === "id" || field === "all" ? b.id : a.id,
      routing: {
        ...a.routing,
        audienceId: field === "audienceId" || field === "all" ? b.routing.audienceId : a.routing.audienceId,
        audienceType: field === "audienceType" || field === "all" ? b.routing.audienceType : a.routing.audienceType,
      },
      metadata: { ...a.metadata, timeStamp: field === "timeStamp" || field === "all" ? b.metadata.timeStamp : a.metadata.timeStamp },
    };
    const frame =
      field === "target"
        ? new TextEncoder().encode(
            `{"type":1,"target":${JSON.stringify(b.type)},"arguments":[${JSON.stringify(toDelivered(a, false))}]}\u001e`,
          )
        : NodeMessage.read(encodeFramedNodeMessage(a)).jsonFrame!;
    const head = encodeFramedNodeMessage(header);
    const headBytes = head.byteLength - NodeMessage.read(head).jsonFrame!.byteLength;
    return concatBytes(head.subarray(0, headBytes), frame);
  });

/** Frames that are not the delivered notification's Invocation: other message types, no or extra arguments, a missing separator. */
const foreignFrames = fc
  .tuple(
    notification,
    fc.constantFrom(
      '{"type":7,"error":"x"}\u001e',
      '{"type":1,"target":"t","arguments":[]}\u001e',
      '{"type":1,"target":"t","arguments":[{"id":"x"},{}]}\u001e',
      "{}\u001e",
      "[]\u001e",
      "\u001e",
      "{",
      "x",
    ),
  )
  .map(([n, frame]) => {
    const head = encodeFramedNodeMessage(n);
    return concatBytes(head.subarray(0, head.byteLength - NodeMessage.read(head).jsonFrame!.byteLength), new TextEncoder().encode(frame));
  });

/** Bytes, some starting like either format. */
const randomBytes = fc.oneof(
  fc.uint8Array({ maxLength: 64 }),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => concatBytes(Uint8Array.of(FRAMED_MARKER), b)),
  fc.uint8Array({ minLength: 1, maxLength: 64 }).map((b) => concatBytes(Uint8Array.of(0x7b), b)),
);

describe("node message fuzz", { timeout: fuzzTimeoutMs() }, () => {
  it("reads a valid node message in either format back exactly", async () => {
    await fuzz(
      "node message round trip",
      notification,
      (n) => {
        const wire = JSON.parse(JSON.stringify(n)) as Notification;
        for (const data of [encodeFramedNodeMessage(n), notificationCodec.encode(n)]) {
          const m = NodeMessage.read(data);
          assertWellFormed(m, data);
          assert.deepStrictEqual(
            [m.id, m.audienceId, m.audienceType, m.timeStamp()],
            [n.id, n.routing.audienceId, n.routing.audienceType, n.metadata.timeStamp],
          );
          assert.deepStrictEqual(m.notification(), wire);
        }
      },
      { share: 0.02, maxMsPerInput: 1000 },
    );
  });

  it("answers a mutated node message (flipped, foreign, inserted, deleted, duplicated bytes, truncation) with a well-formed message or a documented TypeError", async () => {
    await fuzz("node message mutations", mutated(valid), check, { share: 0.08, maxMsPerInput: 1000 });
  });

  it("answers every truncation of a node message in either format, and refuses every cut framed one as truncated", async () => {
    await fuzz(
      "node message truncation",
      valid,
      (data) => {
        for (let length = 0; length < data.byteLength; length++) {
          const cut = data.subarray(0, length);
          check(cut);
          if (length > 0 && data[0] === FRAMED_MARKER)
            assert.throws(() => NodeMessage.read(cut), { name: "TypeError", message: /^framed node message: / });
        }
      },
      { share: 0.01, maxMsPerInput: 2000 },
    );
  });

  it("answers rewritten header fields (unknown audience types, any flags, lengths up to 0xffff past the end)", async () => {
    await fuzz("node message header edits", headerEdits, check, { share: 0.03, maxMsPerInput: 1000 });
  });

  it("never delivers a notification whose frame disagrees with its header, or whose frame is not its Invocation", async () => {
    await fuzz("node message disagreement", fc.oneof(disagreements, foreignFrames), check, { share: 0.03, maxMsPerInput: 1000 });
  });

  it("answers random bytes", async () => {
    await fuzz("node message random bytes", randomBytes, check, { share: 0.02, maxMsPerInput: 1000 });
  });
});

describe("node message fuzz findings", () => {
  const n = notificationCodec.decode(
    new TextEncoder().encode(
      '{"id":"n-1","type":"note","body":{"a":1},"routing":{"audienceType":4,"audienceValue":"u","tenantId":null,"audienceId":"user:u"},' +
        '"metadata":{"producer":"p","timeStamp":"2026-01-01T00:00:00.000Z","isPersisted":false,"persistedTTL":null}}',
    ),
  );
  const good = encodeFramedNodeMessage(n);
  const headBytes = good.byteLength - NodeMessage.read(good).jsonFrame!.byteLength;
  const withFrame = (frame: string) => concatBytes(good.subarray(0, headBytes), new TextEncoder().encode(frame));
  const refused = (data: Uint8Array, message: string) => assert.throws(() => NodeMessage.read(data), { name: "TypeError", message });
  const refusedLater = (data: Uint8Array, message: string) =>
    assert.throws(() => NodeMessage.read(data).notification(), { name: "TypeError", message });

  it("a framed message cut inside its frame (no record separator at its end) is refused as truncated, not passed on to JSON clients", () => {
    refused(good.subarray(0, good.byteLength - 1), "framed node message: truncated");
    refused(good.subarray(0, headBytes + 1), "framed node message: truncated");
  });

  it("a UTF-16 header string of odd byte length is refused, not read without its last byte", () => {
    const utf16 = Buffer.from(encodeFramedNodeMessage({ ...n, id: "é" }));
    assert.equal(utf16[2], 0);
    utf16[4] = 3;
    refused(utf16, "framed node message: odd UTF-16 length");
  });

  it("a header naming another audience type or time stamp than its frame is refused as header and frame differ", () => {
    const otherType = Buffer.from(good);
    otherType[1] = 3;
    refusedLater(otherType, "framed node message: header and frame differ");
    const otherTime = encodeFramedNodeMessage({ ...n, metadata: { ...n.metadata, timeStamp: "2026-01-01T00:00:01.000Z" } });
    refusedLater(concatBytes(otherTime.subarray(0, headBytes), good.subarray(headBytes)), "framed node message: header and frame differ");
  });

  it("a frame that is not the Invocation of its notification's type with it as the only argument is refused", () => {
    const delivered = JSON.stringify(toDelivered(n, false));
    for (const frame of [
      `{"type":1,"target":"other","arguments":[${delivered}]}\u001e`,
      `{"type":3,"target":"note","arguments":[${delivered}]}\u001e`,
      `{"type":1,"target":"note","arguments":[${delivered},1]}\u001e`,
    ])
      refusedLater(withFrame(frame), "framed node message: no delivered notification in the frame");
  });

  it("a JSON node message with an unknown or non-numeric routing.audienceType, or no metadata.timeStamp, is refused (fan-out threw reading its audience kind)", () => {
    const json = (edit: (wire: Record<string, Record<string, unknown>>) => void) => {
      const wire = JSON.parse(JSON.stringify(n)) as Record<string, Record<string, unknown>>;
      edit(wire);
      return new TextEncoder().encode(JSON.stringify(wire));
    };
    for (const audienceType of [7, 0, "4", "toString", null]) {
      refused(
        json((w) => (w["routing"]!["audienceType"] = audienceType)),
        "notification: unknown routing.audienceType",
      );
    }
    refused(
      json((w) => delete w["metadata"]!["timeStamp"]),
      "notification: metadata.timeStamp is required",
    );
  });

  it("invalid UTF-8 or a byte-order mark in a JSON node message is refused, not replaced (clients get frames spliced from these bytes)", () => {
    const wire = notificationCodec.encode(n);
    const at = new TextDecoder().decode(wire).indexOf('"a"') + 1;
    const invalid = Uint8Array.from(wire);
    invalid[at] = 0xff;
    refused(invalid, "notification: not JSON");
    refused(concatBytes(Uint8Array.of(0xef, 0xbb, 0xbf), wire), "notification: not JSON");
    const frame = Buffer.from(good);
    frame[frame.indexOf('"a"') + 1] = 0xff;
    refusedLater(frame, "framed node message: not JSON");
  });
});

import { describe, expect, it, vi } from "vitest";
import { toDelivered } from "./delivered.js";
import type { Notification } from "./envelope.js";
import { notificationCodec } from "./node-messages.js";
import { STORE_OPS, storeCodecs, type StoreAnswer, type StoreArgs, type StoreOp } from "./store-messages.js";

const bytes = (text: string) => new TextEncoder().encode(text);
const now = new Date("2030-01-01T00:00:00.000Z");
const notification: Notification = {
  id: "n1",
  type: "invoice-ready",
  body: { amount: 1, lines: ["é€😀"] },
  routing: { audienceType: 3, audienceValue: "sales", tenantId: "acme", audienceId: "group:acme:sales" },
  metadata: { producer: "billing", timeStamp: now.toISOString(), isPersisted: true, persistedTTL: "2030-01-02T00:00:00.000Z" },
};

/** One argument set and one result of every operation, as the `NotificationStore` methods use them. */
const samples: { [Op in StoreOp]: { args: StoreArgs[Op][]; answer: StoreAnswer<Op> } } = {
  save: { args: [notification], answer: { ok: true, value: "duplicate" } },
  saveMany: {
    args: [[notification, { ...notification, id: "n2", body: null }], []],
    answer: {
      ok: true,
      value: [
        { ok: true, result: "stored" },
        { ok: false, error: "the database refuses n2" },
      ],
    },
  },
  replay: {
    args: [
      { userId: null, audiences: ["global", "tenant:acme"], limit: 50, now },
      { userId: "u1", audiences: ["user:u1"], limit: 50, now, since: new Date(now.getTime() - 40_000) },
    ],
    answer: { ok: true, value: [toDelivered(notification, true)] },
  },
  setState: {
    args: [
      { userId: "u1", audienceId: "group:acme:sales", notificationId: "n1", now, read: false },
      { userId: "u1", audienceId: "group:acme:sales", notificationId: "n1", now, deleted: true },
    ],
    answer: { ok: true, value: { found: true, changed: false, changedAt: now.toISOString() } },
  },
  list: {
    args: [{ userId: "u1", audiences: ["user:u1"], unreadOnly: true, limit: 10, cursor: "c1", now }],
    answer: { ok: true, value: { items: [toDelivered(notification, false)], unreadCount: 3, nextCursor: null } },
  },
  expire: { args: [{ now, batch: 100 }], answer: { ok: true, value: 7 } },
  ping: { args: [{}], answer: { ok: true, value: true } },
};

function roundTrip<Op extends StoreOp>(op: Op): void {
  const codecs = storeCodecs[op];
  for (const args of samples[op].args) expect(codecs.request.decode(codecs.request.encode(args)), op).toStrictEqual(args);
  expect(codecs.answer.decode(codecs.answer.encode(samples[op].answer)), op).toStrictEqual(samples[op].answer);
  const refusal: StoreAnswer<Op> = { ok: false, error: "database down", code: "unavailable" };
  expect(codecs.answer.decode(codecs.answer.encode(refusal)), op).toStrictEqual(refusal);
}

describe("store messages - one codec per operation, used by BusNotificationStore and the store responder", () => {
  it("every request and answer survives encode and decode, dates as Dates", () => {
    for (const op of STORE_OPS) roundTrip(op);
  });

  it("keeps the wire form: JSON bodies with ISO-8601 dates, results under their field names", () => {
    const text = (data: Uint8Array) => JSON.parse(new TextDecoder().decode(data)) as unknown;
    expect(text(storeCodecs.expire.request.encode({ now, batch: 3 }))).toEqual({ now: now.toISOString(), batch: 3 });
    expect(text(storeCodecs.save.request.encode(notification))).toEqual({ notification });
    expect(text(storeCodecs.save.answer.encode({ ok: true, value: "stored" }))).toEqual({ result: "stored" });
    expect(text(storeCodecs.expire.answer.encode({ ok: true, value: 2 }))).toEqual({ count: 2 });
    expect(text(storeCodecs.saveMany.request.encode([notification]))).toEqual({ notifications: [notification] });
    expect(
      text(
        storeCodecs.saveMany.answer.encode({
          ok: true,
          value: [
            { ok: true, result: "expired" },
            { ok: false, error: "no" },
          ],
        }),
      ),
    ).toEqual({
      outcomes: [{ result: "expired" }, { error: "no" }],
    });
    expect(text(storeCodecs.ping.answer.encode({ ok: true, value: true }))).toEqual({ ok: true });
    expect(text(storeCodecs.list.answer.encode({ ok: false, error: "cursor is not valid", code: "invalid_request" }))).toEqual({
      error: "cursor is not valid",
      code: "invalid_request",
    });
  });

  it("writes a notification's JSON once for its store request and the node messages that follow", () => {
    const n = { ...notification };
    const stringify = vi.spyOn(JSON, "stringify");
    try {
      const request = storeCodecs.saveMany.request.encode([n]);
      const node = notificationCodec.encode(n);
      expect(stringify).toHaveBeenCalledTimes(1);
      expect(JSON.parse(new TextDecoder().decode(request))).toEqual({ notifications: [n] });
      expect(new TextDecoder().decode(node)).toBe(
        new TextDecoder().decode(storeCodecs.save.request.encode(n)).slice('{"notification":'.length, -1),
      );
    } finally {
      stringify.mockRestore();
    }
  });

  it("normalises the dates of a stored notification to ISO-8601 UTC", () => {
    const offset = { ...notification, metadata: { ...notification.metadata, timeStamp: "2030-01-01T01:00:00+01:00" } };
    expect(storeCodecs.save.request.decode(storeCodecs.save.request.encode(offset)).metadata.timeStamp).toBe(now.toISOString());
  });

  it("refuses malformed requests with a TypeError that names the field", () => {
    const cases: [StoreOp, string, string][] = [
      ["save", "{oops", "the request body is not JSON"],
      ["save", "[1]", "the request body must be a JSON object"],
      ["save", "{}", "notification must be a JSON object"],
      [
        "save",
        JSON.stringify({ notification: { ...notification, routing: { ...notification.routing, audienceType: 9 } } }),
        "notification.routing.audienceType must be an integer from 1 to 5",
      ],
      [
        "save",
        JSON.stringify({ notification: { ...notification, metadata: { ...notification.metadata, isPersisted: false } } }),
        "notification.metadata.isPersisted must be true",
      ],
      ["replay", JSON.stringify({ userId: 5, audiences: [], limit: 1, now }), "userId must be a string or null"],
      ["replay", JSON.stringify({ userId: null, audiences: [1], limit: 1, now }), "audiences must be an array of strings"],
      ["replay", JSON.stringify({ userId: null, audiences: [], limit: 1, now, since: "yesterday" }), "since must be an ISO-8601 date-time"],
      [
        "setState",
        JSON.stringify({ userId: "u", audienceId: "a", notificationId: "n", now, read: true, deleted: true }),
        "setState takes either read or deleted, not both",
      ],
      [
        "list",
        JSON.stringify({ userId: "u", audiences: [], unreadOnly: false, limit: 1, cursor: null, now: "never" }),
        "now must be an ISO-8601 date-time",
      ],
      ["expire", JSON.stringify({ now, batch: 1.5 }), "batch must be an integer"],
      ["ping", "null", "the request body must be a JSON object"],
      ["saveMany", "{}", "notifications must be an array"],
      ["saveMany", JSON.stringify({ notifications: [notification, 5] }), "notifications[1] must be a JSON object"],
      [
        "saveMany",
        JSON.stringify({ notifications: [{ ...notification, metadata: { ...notification.metadata, isPersisted: false } }] }),
        "notifications[0].metadata.isPersisted must be true",
      ],
    ];
    for (const [op, body, reason] of cases) expect(() => storeCodecs[op].request.decode(bytes(body)), body).toThrow(new TypeError(reason));
  });

  it("refuses malformed answers instead of passing them on, and never reads an unknown save result as stored", () => {
    const shape = (reason: string) => new TypeError(`the reply does not have the expected shape (${reason})`);
    expect(() => storeCodecs.save.answer.decode(bytes("{not json"))).toThrow(new TypeError("the reply is not JSON"));
    expect(() => storeCodecs.save.answer.decode(bytes('"stored"'))).toThrow(shape("not a JSON object"));
    for (const reply of ["{}", '{"result":"STORED"}', '{"result":true}']) {
      expect(() => storeCodecs.save.answer.decode(bytes(reply))).toThrow(shape("result must be stored, duplicate or expired"));
    }
    expect(() => storeCodecs.replay.answer.decode(bytes('{"items":[{"id":"n1"}]}'))).toThrow(
      shape("items must hold delivered notifications"),
    );
    expect(() => storeCodecs.setState.answer.decode(bytes('{"found":true,"changed":"yes","changedAt":"x"}'))).toThrow(
      shape("changed must be true or false"),
    );
    expect(() => storeCodecs.list.answer.decode(bytes('{"items":[],"unreadCount":1,"nextCursor":5}'))).toThrow(
      shape("nextCursor must be a string or null"),
    );
    expect(() => storeCodecs.expire.answer.decode(bytes('{"count":"3"}'))).toThrow(shape("count must be an integer"));
    expect(() => storeCodecs.ping.answer.decode(bytes('{"ok":1}'))).toThrow(shape("ok must be true"));
    expect(() => storeCodecs.saveMany.answer.decode(bytes('{"outcomes":{}}'))).toThrow(shape("outcomes must be an array"));
    expect(() => storeCodecs.saveMany.answer.decode(bytes('{"outcomes":[{"result":"stored"},{}]}'))).toThrow(
      shape("outcomes[1].result must be stored, duplicate or expired"),
    );
  });

  it("reads an error reply with an unknown code as unavailable, so the caller retries", () => {
    expect(storeCodecs.save.answer.decode(bytes('{"error":"x","code":"weird"}'))).toStrictEqual({
      ok: false,
      error: "x",
      code: "unavailable",
    });
    expect(storeCodecs.save.answer.decode(bytes('{"error":5,"code":"refused"}'))).toStrictEqual({
      ok: false,
      error: "unknown error",
      code: "refused",
    });
  });
});

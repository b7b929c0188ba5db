import { describe, expect, it } from "vitest";
import type { JsMsg } from "@nats-io/jetstream";
import type { Msg } from "@nats-io/nats-core";
import { MsgImpl } from "@nats-io/nats-core/internal";
import { fromNatsHeaders } from "./headers.js";
import { deliveryCountOf, jsMessageHeaders, receivedHeaders } from "./nats-message.js";

const enc = new TextEncoder();
const publisher = { publish: () => undefined };

/** A message as nats.js's parser hands it over: header block then payload in one buffer, `hdr` where the headers end. */
function received(headerBlock: string | Uint8Array | null, payload = "{}"): Msg {
  const h = headerBlock === null ? new Uint8Array(0) : typeof headerBlock === "string" ? enc.encode(headerBlock) : headerBlock;
  const data = new Uint8Array(h.length + payload.length);
  data.set(h);
  data.set(enc.encode(payload), h.length);
  const arg = { subject: enc.encode("s"), reply: enc.encode(""), sid: 1, hdr: headerBlock === null ? -1 : h.length, size: data.length };
  // MsgImpl is a Msg (its `headers` getter may give undefined, which the type spells differently).
  return new MsgImpl(arg, data, publisher) as unknown as Msg;
}

/** nats.js's own reading, or the error it throws. */
function throughNats(block: string): unknown {
  try {
    return fromNatsHeaders(received(block).headers);
  } catch (error) {
    return { threw: (error as Error).message };
  }
}
function ours(block: string): unknown {
  try {
    return receivedHeaders(received(block));
  } catch (error) {
    return { threw: (error as Error).message };
  }
}

/** xorshift32: the same blocks on every run. */
function rng(seed: number): () => number {
  let x = seed;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 4294967296;
  };
}

describe("received headers without nats.js's header parse", () => {
  it("reads the same headers as nats.js from 5,000 generated header blocks, refusing what it refuses", () => {
    const random = rng(2026);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)]!;
    const names = [
      "Nats-Msg-Id",
      "nats-msg-id",
      "Content-Type",
      "traceparent",
      "tracestate",
      "X-A",
      "__proto__",
      "toString",
      "",
      "Bad Name",
      "Ünï",
      "a:b",
    ];
    const values = ["v", "  padded  ", "", "application/msgpack; q=1", "a\nb", "a\rb", "tail\n", "ünïcödé", "x:y:z", "\t tab"];
    const statuses = ["NATS/1.0", "NATS/1.0 503", "NATS/1.0 408 Request Timeout", "NATS/1.0  "];
    let compared = 0;
    let refused = 0;
    for (let i = 0; i < 5000; i++) {
      const lines = [pick(statuses)];
      const count = Math.floor(random() * 5);
      for (let k = 0; k < count; k++) {
        const r = random();
        if (r < 0.08) lines.push("");
        else if (r < 0.14) lines.push("no colon here");
        else lines.push(`${pick(names)}:${pick(values)}`);
      }
      const block = lines.join("\r\n") + (random() < 0.9 ? "\r\n\r\n" : "");
      const expected = throughNats(block);
      expect(ours(block), JSON.stringify(block)).toEqual(expected);
      compared++;
      if (typeof expected === "object" && expected !== null && "threw" in expected) refused++;
    }
    expect(compared).toBe(5000);
    // The generator reaches both outcomes.
    expect(refused).toBeGreaterThan(100);
    expect(refused).toBeLessThan(4000);
  });

  it("reads values that are not valid UTF-8 as nats.js does (U+FFFD for each bad sequence)", () => {
    const bad = [[0xff], [0xe2, 0x82], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf0, 0x9f, 0x98], [0xf4, 0x90, 0x80, 0x80], [0x80, 0x80]];
    for (const bytes of bad) {
      const block = new Uint8Array([...enc.encode("NATS/1.0\r\nX-Bad: a"), ...bytes, ...enc.encode("b\r\n\r\n")]);
      const expected = fromNatsHeaders(received(block).headers);
      expect(receivedHeaders(received(block)), bytes.join(",")).toEqual(expected);
      expect(expected!["X-Bad"]).toContain("\ufffd");
    }
  });

  it("keeps each name's first value and the name as sent; no header block is null", () => {
    expect(receivedHeaders(received("NATS/1.0\r\nNats-Msg-Id: a\r\nnats-msg-id: b\r\nNats-Msg-Id: c\r\ntoString: t\r\n\r\n"))).toEqual({
      "Nats-Msg-Id": "a",
      "nats-msg-id": "b",
      toString: "t",
    });
    expect(receivedHeaders(received(null))).toBeNull();
  });

  it("reads through a JetStream message to the core message it wraps, and through `headers` for anything else", () => {
    const core = received("NATS/1.0\r\nContent-Type: application/msgpack\r\n\r\n");
    expect(jsMessageHeaders({ msg: core } as unknown as JsMsg)).toEqual({ "Content-Type": "application/msgpack" });
    const plain = { headers: received("NATS/1.0\r\nA: 1\r\n\r\n").headers } as unknown as JsMsg;
    expect(jsMessageHeaders(plain)).toEqual({ A: "1" });
  });
});

describe("delivery count from the ack subject", () => {
  /** A JetStream message whose `info` would say `fromInfo`; counts the reads of `info`. */
  const message = (reply: string, fromInfo = -1) => {
    const m = {
      reply,
      infoReads: 0,
      get info() {
        m.infoReads++;
        return { deliveryCount: fromInfo };
      },
    };
    return m;
  };

  it("reads the count of both ack subject forms without asking `info`", () => {
    const old = message("$JS.ACK.TIDINGS.tidings-router.3.120.77.1733550000000000000.5");
    expect(deliveryCountOf(old as unknown as JsMsg)).toBe(3);
    const current = message("$JS.ACK._.ABCD.TIDINGS.tidings-router.12.120.77.1733550000000000000.5.xyz");
    expect(deliveryCountOf(current as unknown as JsMsg)).toBe(12);
    const noRandom = message("$JS.ACK.dom.ABCD.S.C.1.2.3.4.0");
    expect(deliveryCountOf(noRandom as unknown as JsMsg)).toBe(1);
    expect(old.infoReads + current.infoReads + noRandom.infoReads).toBe(0);
  });

  it("leaves any other subject to nats.js's `info`", () => {
    for (const reply of [
      "_INBOX.abc",
      "$JS.ACK.S.C.1.2",
      "$JS.ACK.S.C.x1.2.3.4.5",
      "$JS.ACK.S.C..2.3.4.5",
      "$JS.ACK.S.C.1234567890123456.2.3.4.5",
    ]) {
      const m = message(reply, 42);
      expect(deliveryCountOf(m as unknown as JsMsg), reply).toBe(42);
      expect(m.infoReads, reply).toBe(1);
    }
  });
});

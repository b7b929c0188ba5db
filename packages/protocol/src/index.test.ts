import { describe, expect, it } from "vitest";
import * as api from "./index.js";
import { toHex } from "./test-support.js";

describe("package entry", () => {
  it("exports exactly the public runtime API", () => {
    expect(Object.keys(api).sort()).toEqual(
      [
        "HANDSHAKE_OK",
        "HandshakeErrors",
        "HubErrorDetails",
        "HubErrors",
        "MAX_NESTING_DEPTH",
        "MessageType",
        "PING_JSON",
        "PING_MSGPACK",
        "RECORD_SEPARATOR",
        "createHandshakeParser",
        "encodeHandshakeError",
        "encodeNegotiateError",
        "encodeNegotiateResponse",
        "getProtocol",
        "jsonProtocol",
        "messagePackProtocol",
        "parseNegotiateQuery",
      ].sort(),
    );
  });

  it("numbers message types as docs/protocol.md §4.4", () => {
    expect(api.RECORD_SEPARATOR).toBe(0x1e);
    expect(api.MessageType).toEqual({
      Invocation: 1,
      StreamItem: 2,
      Completion: 3,
      StreamInvocation: 4,
      CancelInvocation: 5,
      Ping: 6,
      Close: 7,
      Ack: 8,
      Sequence: 9,
    });
  });

  it("resolves protocols by name", () => {
    expect(api.getProtocol("json")).toBe(api.jsonProtocol);
    expect(api.getProtocol("messagepack")).toBe(api.messagePackProtocol);
  });

  it("exposes the constant frames", () => {
    expect(toHex(api.PING_MSGPACK)).toBe("02 91 06");
    expect(toHex(api.HANDSHAKE_OK)).toBe("7B 7D 1E");
    expect(toHex(api.PING_JSON)).toBe(toHex(api.jsonProtocol.encode({ type: 6 })));
  });

  it("encodes one notification per protocol with identical content", () => {
    const argument = { invoiceId: "inv-1", amount: 12.5, at: "2024-01-01T00:00:00Z" };
    const json = api.jsonProtocol.createDecoder(32768).push(api.jsonProtocol.encodeNotification("invoice-ready", argument));
    const msgpack = api.messagePackProtocol
      .createDecoder(32768)
      .push(api.messagePackProtocol.encodeNotification("invoice-ready", argument));
    expect(json.messages).toEqual([{ type: 1, target: "invoice-ready", arguments: [argument] }]);
    expect(msgpack.messages).toEqual([{ type: 1, headers: {}, target: "invoice-ready", arguments: [argument], streamIds: [] }]);
  });
});

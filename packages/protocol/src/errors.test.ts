import { describe, expect, it } from "vitest";
import { HandshakeErrors, HubErrorDetails, HubErrors } from "./errors.js";

describe("hub error strings (docs/protocol.md §10)", () => {
  it("unknown method (W-INV-03)", () => {
    expect(HubErrors.methodDoesNotExist("Nope")).toBe(
      "Failed to invoke 'Nope' due to an error on the server. HubException: Method does not exist.",
    );
  });

  it("binding failure, plain and detailed (W-INV-04)", () => {
    expect(HubErrors.binding("Subscribe")).toBe("Failed to invoke 'Subscribe' due to an error on the server.");
    expect(HubErrors.binding("Subscribe", "")).toBe("Failed to invoke 'Subscribe' due to an error on the server.");
    expect(HubErrors.binding("Subscribe", HubErrorDetails.argumentCount(2, 1))).toBe(
      "Failed to invoke 'Subscribe' due to an error on the server. InvalidDataException: Invocation provides 2 argument(s) but target expects 1.",
    );
    expect(HubErrors.binding("subscribe", HubErrorDetails.argumentTypes)).toBe(
      "Failed to invoke 'subscribe' due to an error on the server. InvalidDataException: Error binding arguments. Make sure that the types of the provided values match the types of the hub method being invoked.",
    );
  });

  it("streaming invocation of a non-streaming method (W-INV-07)", () => {
    expect(HubErrors.nonStreaming("SUBSCRIBE")).toBe(
      "The client attempted to invoke the non-streaming 'SUBSCRIBE' method with a streaming invocation.",
    );
  });

  it("upload streams (W-INV-08)", () => {
    expect(HubErrors.streamsUnsupported("Subscribe", 1)).toBe(
      "An unexpected error occurred invoking 'Subscribe' on the server. HubException: Client sent 1 stream(s), Hub method expects 0.",
    );
    expect(HubErrors.streamsUnsupported("Subscribe", 3)).toContain("Client sent 3 stream(s)");
  });

  it("contract error (W-INV-05)", () => {
    expect(HubErrors.hubException("Subscribe", "WrongInput: audienceType is unknown")).toBe(
      "An unexpected error occurred invoking 'Subscribe' on the server. HubException: WrongInput: audienceType is unknown",
    );
  });

  it("internal failure, plain and detailed", () => {
    expect(HubErrors.internal("Subscribe")).toBe("An unexpected error occurred invoking 'Subscribe' on the server.");
    expect(HubErrors.internal("Subscribe", "TypeError: x is undefined")).toBe(
      "An unexpected error occurred invoking 'Subscribe' on the server. TypeError: x is undefined",
    );
  });
});

describe("handshake error strings (docs/protocol.md §4.1)", () => {
  it("builds each row", () => {
    expect(HandshakeErrors.unsupportedProtocol("foo")).toBe("The protocol 'foo' is not supported.");
    expect(HandshakeErrors.unsupportedVersion(3, "json")).toBe("The server does not support version 3 of the 'json' protocol.");
    expect(HandshakeErrors.binaryOnTextTransport("messagepack")).toBe(
      "Cannot use the 'messagepack' protocol on the current transport. The transport does not support 'Binary' transfer format.",
    );
    expect(HandshakeErrors.canceled).toBe("Handshake was canceled.");
    expect(HandshakeErrors.unexpected).toBe("An unexpected error occurred during connection handshake.");
  });
});

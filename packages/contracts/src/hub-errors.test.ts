import { describe, expect, it } from "vitest";
import { HubErrorCode, HubMethodError } from "./hub-errors.js";

describe("hub errors - codes", () => {
  it("keeps Notiway's numbers", () => {
    expect(HubErrorCode).toStrictEqual({ Unauthorized: 33, Forbidden: 34, NotFound: 40, NotSupported: 41, WrongInput: 45, Throttled: 71 });
  });
});

describe("hub errors - HubMethodError", () => {
  it("formats the message as '<Code>: <detail>'", () => {
    const err = new HubMethodError("Forbidden", "You are not a member of that tenant.");
    expect(err.message).toBe("Forbidden: You are not a member of that tenant.");
    expect(`HubException: ${err.message}`.includes("HubException: Forbidden")).toBe(true);
    expect(err.name).toBe("HubMethodError");
    expect(err.code).toBe("Forbidden");
    expect(err.detail).toBe("You are not a member of that tenant.");
    expect(err.codeNumber).toBe(34);
    expect(err).toBeInstanceOf(Error);
    expect(String(err)).toBe("HubMethodError: Forbidden: You are not a member of that tenant.");
  });

  it("carries a cause", () => {
    const cause = new Error("timeout");
    expect(new HubMethodError("Forbidden", "Tenant validation failed.", { cause }).cause).toBe(cause);
  });
});

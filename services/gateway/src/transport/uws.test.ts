import { describe, expect, it } from "vitest";
import { loadNativeUws } from "./uws.js";

describe("uws - native build", () => {
  it("loads the native addon, not the JS fallback", () => {
    const uws = loadNativeUws();
    expect(typeof uws.App).toBe("function");
  });
});

import { describe, expect, it } from "vitest";
import { createLogger, silentLogger } from "./logger.js";

describe("logger - bindings", () => {
  it("binds service and nodeId on every line", () => {
    const log = createLogger({ level: "info", service: "gateway", nodeId: "n1" });
    expect(log.bindings()).toMatchObject({ service: "gateway", nodeId: "n1" });
    expect(log.isLevelEnabled("debug")).toBe(false);
  });
  it("silent logger logs nothing", () => {
    expect(silentLogger().isLevelEnabled("fatal")).toBe(false);
  });
});

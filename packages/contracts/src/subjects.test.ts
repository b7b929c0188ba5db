import { describe, expect, it } from "vitest";
import { subjects } from "./subjects.js";

describe("subjects - names", () => {
  it("builds every subject", () => {
    expect(subjects.notify("billing")).toBe("tidings.notify.billing");
    expect(subjects.notify("billing.eu")).toBe("tidings.notify.billing.eu");
    expect(subjects.notifyWildcard).toBe("tidings.notify.>");
    expect(subjects.stream).toBe("TIDINGS");
    expect(subjects.node("gw-7f9c.a1b2")).toBe("tidings.v1.node.gw-7f9c.a1b2");
    expect(subjects.deadLetter).toBe("tidings.deadletter");
    expect(subjects.registryDelta).toBe("tidings.v1.registry.delta");
    expect(subjects.registrySync).toBe("tidings.v1.registry.sync");
    expect(subjects.registrySnapshot("gw-1")).toBe("tidings.v1.registry.snapshot.gw-1");
    expect(subjects.storeRequest("replay")).toBe("tidings.v1.store.replay");
    expect(subjects.forward("gw-1")).toBe("tidings.v1.forward.gw-1");
    expect(subjects.relayStream("gw-1", "s7")).toBe("tidings.v1.relay.gw-1.s7");
    expect(subjects.routers).toBe("tidings.v1.routers");
    expect(subjects.partition(7)).toBe("tidings.v1.part.7");
    expect(subjects.partitionWildcard).toBe("tidings.v1.part.>");
    expect(subjects.partitionStream).toBe("TIDINGS_PARTS");
  });

  it("refuses tokens that would change the subject's meaning", () => {
    for (const bad of ["", "a b", "a.>", "*", "a..b", ".a", "a.", "a\nb"]) {
      expect(() => subjects.node(bad), JSON.stringify(bad)).toThrow(RangeError);
      expect(() => subjects.notify(bad), JSON.stringify(bad)).toThrow(RangeError);
    }
    expect(() => subjects.storeRequest("a.b")).toThrow(RangeError);
    expect(() => subjects.forward("a b")).toThrow(RangeError);
    expect(() => subjects.relayStream("gw-1", "a.b")).toThrow(RangeError);
    expect(() => subjects.partition(-1)).toThrow(RangeError);
    expect(() => subjects.partition(1.5)).toThrow(RangeError);
  });
});

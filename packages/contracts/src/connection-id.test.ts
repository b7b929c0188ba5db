import { describe, expect, it } from "vitest";
import { isValidNodeId, mintId, ownerOf } from "./connection-id.js";

describe("connection ids", () => {
  it("embed the owner node and only URL-safe characters", () => {
    const id = mintId("gw-7_a");
    expect(id).toMatch(/^[A-Za-z0-9_-]+$/);
    expect(id.length).toBeLessThanOrEqual(128);
    expect(ownerOf(id)).toBe("gw-7_a");
  });
  it("share no random bits between two ids of one node", () => {
    const a = mintId("n1");
    const b = mintId("n1");
    expect(a.slice(0, 22)).not.toBe(b.slice(0, 22));
  });
  it("take fresh random bytes for every id, across refills of the random pool and for every node", () => {
    // Several pools' worth (256 ids each), alternating nodes: no 16-byte random part twice, each owner kept.
    const randoms = new Set<string>();
    for (let i = 0; i < 1500; i++) {
      const node = i % 3 === 0 ? "gw-a" : "gw-b";
      const id = mintId(node);
      expect(ownerOf(id)).toBe(node);
      const random = Buffer.from(id.slice(0, 22), "base64url");
      expect(random.length).toBe(16);
      randoms.add(random.toString("hex"));
    }
    expect(randoms.size).toBe(1500);
  });
  it("W-BAD-06 decode malformed, overlong or forged ids to null", () => {
    expect(ownerOf("short")).toBeNull();
    expect(ownerOf("x".repeat(200))).toBeNull();
    expect(ownerOf("%00%FF")).toBeNull();
    const id = mintId("n1");
    expect(ownerOf(id.slice(0, 22) + "!!")).toBeNull();
    expect(ownerOf(id.slice(0, 22) + Buffer.from("bad node").toString("base64url"))).toBeNull();
  });
  it("validate node ids", () => {
    expect(isValidNodeId("pod-abc_1")).toBe(true);
    expect(isValidNodeId("has.dot")).toBe(false);
    expect(isValidNodeId("")).toBe(false);
  });
});

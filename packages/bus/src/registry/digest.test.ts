import { describe, expect, it } from "vitest";
import { DigestAccumulator, registryDigest } from "./digest.js";

describe("registryDigest", () => {
  it("does not depend on the order of keys", () => {
    expect(registryDigest(["user:a", "group:b", "tenant:c"])).toBe(registryDigest(["tenant:c", "user:a", "group:b"]));
  });

  it("differs for different sets, including same-size ones", () => {
    const base = registryDigest(["user:a", "user:b"]);
    expect(registryDigest(["user:a", "user:c"])).not.toBe(base);
    expect(registryDigest(["user:a"])).not.toBe(base);
    expect(registryDigest(["user:ab"])).not.toBe(registryDigest(["user:ba"]));
  });

  it("updates in place: add then remove returns to the earlier digest", () => {
    const acc = new DigestAccumulator();
    const empty = acc.value();
    acc.add("user:a");
    acc.add("group:x");
    expect(acc.value()).toBe(registryDigest(["group:x", "user:a"]));
    acc.remove("user:a");
    expect(acc.value()).toBe(registryDigest(["group:x"]));
    acc.remove("group:x");
    expect(acc.value()).toBe(empty);
    expect(acc.count).toBe(0);
  });

  it("has no collisions among 200,000 similar keys", () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200_000; i++) seen.add(registryDigest([`user:${i}`]));
    expect(seen.size).toBe(200_000);
  });
});

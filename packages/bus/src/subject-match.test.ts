import { describe, expect, it } from "vitest";
import { checkPattern, checkSubject, subjectMatches } from "./subject-match.js";

describe("subject matching", () => {
  it("matches exact subjects only exactly", () => {
    expect(subjectMatches("a.b", "a.b")).toBe(true);
    expect(subjectMatches("a.b", "a.b.c")).toBe(false);
    expect(subjectMatches("a.b.c", "a.b")).toBe(false);
  });

  it("'*' matches exactly one token", () => {
    expect(subjectMatches("a.*.c", "a.b.c")).toBe(true);
    expect(subjectMatches("a.*", "a.b.c")).toBe(false);
    expect(subjectMatches("a.*", "a")).toBe(false);
  });

  it("'>' matches one or more trailing tokens", () => {
    expect(subjectMatches("a.>", "a.b")).toBe(true);
    expect(subjectMatches("a.>", "a.b.c.d")).toBe(true);
    expect(subjectMatches("a.>", "a")).toBe(false);
    expect(subjectMatches(">", "x.y")).toBe(true);
  });

  it("refuses malformed patterns and wildcard publishes", () => {
    expect(() => checkPattern("")).toThrow(RangeError);
    expect(() => checkPattern("a..b")).toThrow(RangeError);
    expect(() => checkPattern("a b")).toThrow(RangeError);
    expect(() => checkPattern("a.>.b")).toThrow(RangeError);
    expect(() => checkSubject("a.*")).toThrow(RangeError);
    expect(() => checkSubject("a.b")).not.toThrow();
  });
});

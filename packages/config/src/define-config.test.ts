import { describe, expect, it } from "vitest";
import { bool, defineConfig, int, list, oneOf, screamingSnake, seconds, str, url } from "./define-config.js";
import type { Field, Parsed } from "./define-config.js";

function value<T>(field: Field<T>, raw: string): T {
  const parsed: Parsed<T> = field.parse(raw);
  if (!parsed.ok) throw new Error(`expected ${JSON.stringify(raw)} to parse, got: expected ${parsed.expected}`);
  return parsed.value;
}

function rejects<T>(field: Field<T>, raw: string): string {
  const parsed = field.parse(raw);
  if (parsed.ok) throw new Error(`expected ${JSON.stringify(raw)} to be rejected, got ${JSON.stringify(parsed.value)}`);
  return parsed.expected;
}

describe("screamingSnake", () => {
  it("screamingSnake - camelCase keys map mechanically", () => {
    expect(screamingSnake("authJwtSecret")).toBe("AUTH_JWT_SECRET");
    expect(screamingSnake("port")).toBe("PORT");
    expect(screamingSnake("keepaliveSeconds")).toBe("KEEPALIVE_SECONDS");
    expect(screamingSnake("tenantValidationCacheSeconds")).toBe("TENANT_VALIDATION_CACHE_SECONDS");
    expect(screamingSnake("s3Url")).toBe("S3_URL");
  });
});

describe("defineConfig", () => {
  it("defineConfig - env names are prefix plus SCREAMING_SNAKE, keys keep declaration order", () => {
    const schema = defineConfig({ zeta: int({ default: 1, doc: "z" }), alphaBeta: str({ default: "a", doc: "a" }) }, { prefix: "APP_" });
    expect(schema.keys).toEqual(["zeta", "alphaBeta"]);
    expect(schema.envName("alphaBeta")).toBe("APP_ALPHA_BETA");
  });

  it("defineConfig - refuses keys that are not camelCase", () => {
    expect(() => defineConfig({ Bad_key: int({ default: 1, doc: "" }) }, { prefix: "APP_" })).toThrow(/camelCase/);
  });
});

describe("int", () => {
  const port = int({ default: 8080, min: 1, max: 65535, doc: "" });

  it("int - parses whole numbers within bounds", () => {
    expect(value(port, "1")).toBe(1);
    expect(value(port, "65535")).toBe(65535);
    expect(value(int({ default: 0, doc: "" }), "-3")).toBe(-3);
  });

  it("int - rejects decimals, junk, exponents and out-of-range values", () => {
    for (const raw of ["1.5", "12abc", "abc", "0x10", "1e3", "+", "-", "0", "65536", "99999999999999999999"]) {
      rejects(port, raw);
    }
    expect(rejects(port, "12abc")).toBe("an integer, from 1 to 65535");
  });

  it("int - describes one-sided bounds", () => {
    expect(int({ default: 1, min: 1, doc: "" }).expected).toBe("an integer, at least 1");
    expect(int({ default: 1, doc: "" }).expected).toBe("an integer");
  });
});

describe("seconds", () => {
  const plain = seconds({ default: 15, doc: "" });

  it("seconds - accepts whole and decimal seconds", () => {
    expect(value(plain, "0")).toBe(0);
    expect(value(plain, "15")).toBe(15);
    expect(value(plain, "0.5")).toBe(0.5);
    expect(value(plain, ".25")).toBe(0.25);
    expect(value(plain, "2.")).toBe(2);
  });

  it("seconds - rejects negatives, units and junk", () => {
    for (const raw of ["-1", "15s", "1e2", "abc", "1.2.3", ".", "Infinity"]) rejects(plain, raw);
    expect(plain.expected).toBe("a number of seconds (decimals allowed), at least 0");
  });

  it("seconds - honours exclusive bounds", () => {
    const poll = seconds({ default: 90, above: 0, below: 100, doc: "" });
    expect(value(poll, "99.9")).toBe(99.9);
    rejects(poll, "100");
    rejects(poll, "0");
    expect(poll.expected).toBe("a number of seconds (decimals allowed), greater than 0 and below 100");
  });
});

describe("bool", () => {
  const flag = bool({ default: false, doc: "" });

  it("bool - accepts true/false/1/0/yes/no in any case", () => {
    for (const raw of ["true", "TRUE", "True", "1", "yes", "YES"]) expect(value(flag, raw)).toBe(true);
    for (const raw of ["false", "FALSE", "0", "no", "No"]) expect(value(flag, raw)).toBe(false);
  });

  it("bool - rejects anything else", () => {
    for (const raw of ["on", "off", "y", "n", "2", "truthy"]) rejects(flag, raw);
    expect(flag.expected).toBe("true, false, 1, 0, yes or no");
  });
});

describe("str", () => {
  it("str - keeps the value and checks its length in characters", () => {
    const secret = str({ default: undefined, min: 4, doc: "", secret: true });
    expect(value(secret, "abcd")).toBe("abcd");
    expect(value(secret, "ééé€")).toBe("ééé€");
    expect(rejects(secret, "abc")).toBe("at least 4 characters");
    expect(secret.secret).toBe(true);
    expect(secret.default).toBeUndefined();
  });

  it("str - checks a pattern", () => {
    const id = str({ default: undefined, max: 8, pattern: /^[a-z-]+$/, patternText: "lower-case letters and -", doc: "" });
    expect(value(id, "node-a")).toBe("node-a");
    rejects(id, "node.a");
    rejects(id, "abcdefghi");
    expect(id.expected).toBe("lower-case letters and -, at most 8 characters");
  });
});

describe("list", () => {
  it("list - splits on commas, trims and drops empty items", () => {
    const keys = list({ default: [], doc: "" });
    expect(value(keys, " a, b ,,c ,")).toEqual(["a", "b", "c"]);
    expect(value(keys, ",")).toEqual([]);
    expect(Object.isFrozen(value(keys, "a"))).toBe(true);
  });

  it("list - with values, validates each item, normalises spelling and drops duplicates", () => {
    const transports = list({ values: ["WebSockets", "LongPolling"], default: ["WebSockets"], min: 1, doc: "" });
    expect(value(transports, "longpolling, WebSockets, LONGPOLLING")).toEqual(["LongPolling", "WebSockets"]);
    expect(rejects(transports, "WebSockets,Carrier")).toContain('"Carrier" is not one of them');
    expect(rejects(transports, ",")).toBe("a comma-separated list of WebSockets, LongPolling with at least 1 item");
  });

  it("list - runs the item check and never shows an item of a secret list", () => {
    const check = (s: string) => (s.startsWith("k") ? undefined : "must start with k");
    const open = list({ default: [], check, doc: "" });
    expect(rejects(open, "k1,x2")).toContain('"x2": must start with k');
    const hidden = list({ default: [], check, secret: true, doc: "" });
    expect(rejects(hidden, "k1,x2")).not.toContain("x2");
  });

  it("list - bounds the number of items", () => {
    const two = list({ default: [], max: 2, doc: "" });
    rejects(two, "a,b,c");
    expect(value(two, "a,b")).toEqual(["a", "b"]);
  });
});

describe("oneOf", () => {
  const level = oneOf({ values: ["debug", "info"], default: "info", doc: "" });

  it("oneOf - matches case-insensitively and returns the canonical spelling", () => {
    expect(value(level, "DEBUG")).toBe("debug");
    expect(value(level, "info")).toBe("info");
  });

  it("oneOf - rejects other words", () => {
    expect(rejects(level, "verbose")).toBe("one of debug, info");
  });
});

describe("url", () => {
  const web = url({ default: undefined, protocols: ["https", "http"], doc: "" });

  it("url - accepts absolute URLs with an allowed scheme and keeps them as written", () => {
    expect(value(web, "https://auth.example.com/.well-known/jwks.json")).toBe("https://auth.example.com/.well-known/jwks.json");
    expect(value(web, "HTTP://localhost:8081")).toBe("HTTP://localhost:8081");
  });

  it("url - rejects other schemes, relative and malformed URLs", () => {
    for (const raw of ["ftp://example.com", "example.com/jwks", "/jwks", "http:example.com", "https://", "http://a b"]) {
      rejects(web, raw);
    }
    expect(web.expected).toBe("an absolute URL starting with https:// or http://");
  });

  it("url - without protocols, any scheme:// URL passes", () => {
    const any = url({ default: undefined, doc: "" });
    expect(value(any, "postgres://u:p@db:5432/tidings")).toBe("postgres://u:p@db:5432/tidings");
    rejects(any, "localhost:4222");
  });
});

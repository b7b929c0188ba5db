// Over 300 lines: one case per rule of the HS256 verifier, each also checked against jose.
import { createHmac, generateKeyPairSync } from "node:crypto";
import { errors as joseErrors, jwtVerify, SignJWT, type JWTPayload } from "jose";
import { describe, expect, it } from "vitest";
import { AuthError, createAuthenticator } from "./auth.js";
import { createHs256Verifier, JwtRefused, type Hs256Options } from "./hs256.js";

const SECRET = "hs256-test-secret-0123456789-abcdefghijklmnop";
const SECRET_BYTES = new TextEncoder().encode(SECRET);
const NOW = 1_800_000_000;
const TOLERANCE = 30;

const b64url = (text: string | Buffer) => Buffer.from(text).toString("base64url");
const hmac = (input: string, secret: string | Buffer = SECRET) => createHmac("sha256", secret).update(input).digest("base64url");

/** A token with exactly these header and payload bytes, HMAC-SHA256-signed with the secret. */
function handMade(header: string, payload: string, secret: string | Buffer = SECRET): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${hmac(input, secret)}`;
}

/** A token of exactly these (possibly malformed) segments, correctly signed over `header.payload`. */
function signedRaw(headerSegment: string, payloadSegment: string): string {
  return `${headerSegment}.${payloadSegment}.${hmac(`${headerSegment}.${payloadSegment}`)}`;
}

function mint(
  claims: JWTPayload,
  header: { alg: string; [k: string]: unknown } = { alg: "HS256" },
  secret: Uint8Array = SECRET_BYTES,
): Promise<string> {
  return new SignJWT(claims).setProtectedHeader(header).sign(secret);
}

type Outcome = { ok: true; claims: unknown } | { ok: false; message: string; expiredClaims: unknown };

function fast(token: string, options: Partial<Hs256Options> = {}, now = NOW): Outcome {
  const verify = createHs256Verifier(SECRET, { clockToleranceSeconds: TOLERANCE, ...options });
  try {
    return { ok: true, claims: verify(token, now) };
  } catch (err) {
    if (!(err instanceof JwtRefused)) throw err;
    return { ok: false, message: err.message, expiredClaims: err.expiredClaims };
  }
}

/** The gateway's previous verification (auth.ts before the fast path): jose's jwtVerify and its error wording. */
async function reference(token: string, options: Partial<Hs256Options> = {}, now = NOW): Promise<Outcome> {
  try {
    const { payload } = await jwtVerify(token, SECRET_BYTES, {
      algorithms: ["HS256"],
      clockTolerance: TOLERANCE,
      currentDate: new Date(now * 1000),
      ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
      ...(options.audience === undefined ? {} : { audience: options.audience }),
    });
    return { ok: true, claims: payload };
  } catch (err) {
    const expiredClaims = err instanceof joseErrors.JWTExpired && err.claim === "exp" ? err.payload : undefined;
    let message: string;
    if (err instanceof joseErrors.JWTExpired) message = "token expired";
    else if (err instanceof joseErrors.JWTClaimValidationFailed)
      message = `claim '${err.claim}' ${err.reason === "check_failed" ? "is invalid" : err.reason}`;
    else if (err instanceof joseErrors.JWSSignatureVerificationFailed) message = "signature verification failed";
    else if (err instanceof joseErrors.JOSEError) message = err.message.slice(0, 120);
    else message = "malformed token";
    return { ok: false, message, expiredClaims };
  }
}

function refusedWith(outcome: Outcome): string {
  if (outcome.ok) throw new Error(`expected a refusal, got claims ${JSON.stringify(outcome.claims)}`);
  return outcome.message;
}

describe("createHs256Verifier", () => {
  it("accepts a token jose minted and returns its claims", async () => {
    const token = await mint({ sub: "alice", tenant: ["t1", "t2"], iat: NOW, exp: NOW + 3600 });
    expect(fast(token)).toEqual({ ok: true, claims: { sub: "alice", tenant: ["t1", "t2"], iat: NOW, exp: NOW + 3600 } });
  });

  it("refuses a tampered signature, payload or header, and another secret's signature", async () => {
    const token = await mint({ sub: "alice", exp: NOW + 60 });
    const [h, p, s] = token.split(".") as [string, string, string];
    const flip = (c: string) => (c === "A" ? "B" : "A");
    expect(refusedWith(fast(`${h}.${p}.${flip(s[0]!)}${s.slice(1)}`))).toBe("signature verification failed");
    expect(refusedWith(fast(`${h}.${p}.${s.slice(0, -1)}${flip(s.at(-1)!)}`))).toBe("signature verification failed");
    expect(refusedWith(fast(`${h}.${b64url(JSON.stringify({ sub: "mallory", exp: NOW + 60 }))}.${s}`))).toBe(
      "signature verification failed",
    );
    expect(refusedWith(fast(`${b64url('{"alg":"HS256","typ":"JWT"}')}.${p}.${s}`))).toBe("signature verification failed");
    expect(refusedWith(fast(`${h}.${p}.${s.slice(0, -3)}`))).toBe("signature verification failed");
    expect(refusedWith(fast(`${h}.${p}.`))).toBe("signature verification failed");
    expect(refusedWith(fast(handMade('{"alg":"HS256"}', '{"sub":"alice"}', "another-secret-0123456789-0123456789")))).toBe(
      "signature verification failed",
    );
  });

  it("refuses alg none, HS512, RS256, a missing alg and an alg of another case", async () => {
    const claims = { sub: "alice", exp: NOW + 60 };
    const payload = b64url(JSON.stringify(claims));
    expect(refusedWith(fast(`${b64url('{"alg":"none"}')}.${payload}.`))).toBe('"alg" (Algorithm) Header Parameter value not allowed');
    // Signed with the very secret: only the header's alg is wrong.
    expect(refusedWith(fast(await mint(claims, { alg: "HS512" })))).toBe('"alg" (Algorithm) Header Parameter value not allowed');
    expect(refusedWith(fast(handMade('{"alg":"HS384"}', JSON.stringify(claims))))).toBe(
      '"alg" (Algorithm) Header Parameter value not allowed',
    );
    expect(refusedWith(fast(handMade('{"alg":"hs256"}', JSON.stringify(claims))))).toBe(
      '"alg" (Algorithm) Header Parameter value not allowed',
    );
    const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    expect(refusedWith(fast(await new SignJWT(claims).setProtectedHeader({ alg: "RS256" }).sign(privateKey)))).toBe(
      '"alg" (Algorithm) Header Parameter value not allowed',
    );
    // Key confusion: an RS256 header HMAC-signed with the secret is still refused.
    expect(refusedWith(fast(handMade('{"alg":"RS256"}', JSON.stringify(claims))))).toBe(
      '"alg" (Algorithm) Header Parameter value not allowed',
    );
    expect(refusedWith(fast(handMade('{"typ":"JWT"}', JSON.stringify(claims))))).toBe(
      'JWS "alg" (Algorithm) Header Parameter missing or invalid',
    );
    expect(refusedWith(fast(handMade('{"alg":""}', JSON.stringify(claims))))).toBe(
      'JWS "alg" (Algorithm) Header Parameter missing or invalid',
    );
    expect(refusedWith(fast(handMade('{"alg":["HS256"]}', JSON.stringify(claims))))).toBe(
      'JWS "alg" (Algorithm) Header Parameter missing or invalid',
    );
  });

  it("refuses any crit header, even the b64 extension jose understands", async () => {
    const claims = JSON.stringify({ sub: "alice" });
    expect(refusedWith(fast(handMade('{"alg":"HS256","crit":["exp"],"exp":1}', claims)))).toBe(
      '"crit" (Critical) Header Parameter is not supported',
    );
    const b64 = handMade('{"alg":"HS256","crit":["b64"],"b64":true}', claims);
    expect((await reference(b64)).ok).toBe(true);
    expect(refusedWith(fast(b64))).toBe('"crit" (Critical) Header Parameter is not supported');
    expect(refusedWith(fast(handMade('{"alg":"HS256","crit":[]}', claims)))).toBe('"crit" (Critical) Header Parameter is not supported');
  });

  it("applies exp with 30 s of skew: accepted within, refused beyond with the claims for acceptExpired", () => {
    const at = (exp: number) => fast(handMade('{"alg":"HS256"}', JSON.stringify({ sub: "alice", exp })));
    expect(at(NOW + 1).ok).toBe(true);
    expect(at(NOW - 1).ok).toBe(true);
    expect(at(NOW - 29).ok).toBe(true);
    // jose: expired when exp <= now - tolerance.
    expect(at(NOW - 30)).toEqual({ ok: false, message: "token expired", expiredClaims: { sub: "alice", exp: NOW - 30 } });
    expect(at(NOW - 3600)).toEqual({ ok: false, message: "token expired", expiredClaims: { sub: "alice", exp: NOW - 3600 } });
    expect(refusedWith(fast(handMade('{"alg":"HS256"}', '{"sub":"alice","exp":"tomorrow"}')))).toBe("claim 'exp' invalid");
  });

  it("applies nbf with 30 s of skew", () => {
    const at = (nbf: number) => fast(handMade('{"alg":"HS256"}', JSON.stringify({ sub: "alice", nbf })));
    expect(at(NOW - 100).ok).toBe(true);
    expect(at(NOW + 30).ok).toBe(true);
    expect(refusedWith(at(NOW + 31))).toBe("claim 'nbf' is invalid");
    expect(refusedWith(at(NOW + 3600))).toBe("claim 'nbf' is invalid");
    expect(refusedWith(fast(handMade('{"alg":"HS256"}', '{"sub":"alice","nbf":null}')))).toBe("claim 'nbf' invalid");
    // A token both not yet valid and expired fails on nbf: the expired claims are not handed out.
    expect(fast(handMade('{"alg":"HS256"}', JSON.stringify({ sub: "a", nbf: NOW + 100, exp: NOW - 100 })))).toEqual({
      ok: false,
      message: "claim 'nbf' is invalid",
      expiredClaims: undefined,
    });
  });

  it("checks iss and aud (a string, or an array containing the audience)", () => {
    const options = { issuer: "https://idp.example", audience: "tidings" };
    const token = (claims: object) => handMade('{"alg":"HS256"}', JSON.stringify({ sub: "alice", ...claims }));
    expect(fast(token({ iss: "https://idp.example", aud: "tidings" }), options).ok).toBe(true);
    expect(fast(token({ iss: "https://idp.example", aud: ["other", "tidings"] }), options).ok).toBe(true);
    expect(refusedWith(fast(token({ iss: "https://evil.example", aud: "tidings" }), options))).toBe("claim 'iss' is invalid");
    expect(refusedWith(fast(token({ aud: "tidings" }), options))).toBe("claim 'iss' missing");
    expect(refusedWith(fast(token({ iss: "https://idp.example", aud: "other" }), options))).toBe("claim 'aud' is invalid");
    expect(refusedWith(fast(token({ iss: "https://idp.example", aud: ["other"] }), options))).toBe("claim 'aud' is invalid");
    expect(refusedWith(fast(token({ iss: "https://idp.example", aud: ["tidings2"] }), options))).toBe("claim 'aud' is invalid");
    expect(refusedWith(fast(token({ iss: "https://idp.example" }), options))).toBe("claim 'aud' missing");
    // An expired token with a wrong issuer is refused for the issuer, without expired claims.
    expect(fast(token({ iss: "x", aud: "tidings", exp: NOW - 100 }), options)).toEqual({
      ok: false,
      message: "claim 'iss' is invalid",
      expiredClaims: undefined,
    });
    // Without configured iss/aud, any value passes.
    expect(fast(token({ iss: 5, aud: {} })).ok).toBe(true);
  });

  it("refuses malformed compact forms, base64url and JSON", async () => {
    const good = handMade('{"alg":"HS256"}', '{"sub":"alice"}');
    const [h, p, s] = good.split(".") as [string, string, string];
    expect(refusedWith(fast(""))).toBe("Invalid Compact JWS");
    expect(refusedWith(fast(`${h}.${p}`))).toBe("Invalid Compact JWS");
    expect(refusedWith(fast(`${good}.`))).toBe("Invalid Compact JWS");
    expect(refusedWith(fast(`${h}.${p}.${s}.${s}`))).toBe("Invalid Compact JWS");
    expect(refusedWith(fast(`.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(fast(`${h}!.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(fast(`${b64url("not json")}.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(fast(`${b64url('["HS256"]')}.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(fast(`${b64url("null")}.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(fast(`${b64url(Buffer.from([0x7b, 0xff, 0x7d]))}.${p}.${s}`))).toBe("JWS Protected Header is invalid");
    // Standard-alphabet base64 is not base64url, even correctly signed (jose agrees).
    const standard = Buffer.from('{"alg":"HS256","p":"?>"}').toString("base64");
    expect(standard).toContain("/");
    expect(refusedWith(fast(signedRaw(standard, p)))).toBe("JWS Protected Header is invalid");
    expect(refusedWith(await reference(signedRaw(standard, p)))).toBe("JWS Protected Header is invalid");
    // Padding and whitespace: jose (atob) takes them when correctly signed; deliberately stricter here.
    for (const header of [`${b64url('{"alg":"HS256"} ')}==`, `${h.slice(0, 8)} ${h.slice(8)}`]) {
      expect((await reference(signedRaw(header, p))).ok).toBe(true);
      expect(refusedWith(fast(signedRaw(header, p)))).toBe("JWS Protected Header is invalid");
    }
    expect(refusedWith(fast(`${h}.${p}.${s}=`))).toBe("Failed to base64url decode the signature");
    expect(refusedWith(fast(`${h}.${p}.${s.slice(0, 20)}+${s.slice(21)}`))).toBe("Failed to base64url decode the signature");
    expect(refusedWith(fast(`${h}.${p}.A`))).toBe("Failed to base64url decode the signature");
    expect(refusedWith(fast(`${h}.ä${p}.${s}`))).toBe("The payload is not a valid base64url string");
    // Correctly signed, but the payload is not base64url / not a JSON object / not UTF-8.
    const signed = (payloadSegment: string) => signedRaw(h, payloadSegment);
    expect(refusedWith(fast(signed(`${p}=`)))).toBe("Failed to base64url decode the payload");
    expect(p.length % 4).toBe(0);
    expect(refusedWith(fast(signed(`${p}A`)))).toBe("Failed to base64url decode the payload");
    expect(refusedWith(fast(signed(b64url("{not json"))))).toBe("JWT Claims Set must be a top-level JSON object");
    expect(refusedWith(fast(signed(b64url('["sub"]'))))).toBe("JWT Claims Set must be a top-level JSON object");
    expect(refusedWith(fast(signed(b64url('"alice"'))))).toBe("JWT Claims Set must be a top-level JSON object");
    expect(refusedWith(fast(signed(b64url(Buffer.from([0x7b, 0x22, 0xc3, 0x22, 0x3a, 0x31, 0x7d])))))).toBe(
      "JWT Claims Set must be a top-level JSON object",
    );
    // Valid non-ASCII UTF-8 claims decode as jose decodes them.
    expect(fast(signed(b64url(JSON.stringify({ sub: "zoë 😀" }))))).toEqual({ ok: true, claims: { sub: "zoë 😀" } });
  });

  it("refuses a bad clock tolerance at construction", () => {
    expect(() => createHs256Verifier(SECRET, { clockToleranceSeconds: -1 })).toThrow(TypeError);
    expect(() => createHs256Verifier(SECRET, { clockToleranceSeconds: Number.NaN })).toThrow(TypeError);
  });
});

/** Deterministic PRNG (mulberry32), so a failing case reproduces. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("createHs256Verifier agrees with jose's jwtVerify", () => {
  it("on random claim sets, verifier settings and token mutations", async () => {
    const random = prng(0x7d1e);
    const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)]!;
    /** `good()` with probability p, else one of the odd values (undefined = claim absent). */
    const mostly = (p: number, good: () => unknown, odd: readonly unknown[]): unknown => (random() < p ? good() : pick(odd));
    const offset = () => pick([-3600, -31, -30, -29, -1, 0, 1, 29, 30, 31, 3600]) + pick([0, 0, 0.5]);
    const settings: readonly Partial<Hs256Options>[] = [
      {},
      { issuer: "iss-a" },
      { audience: "aud-a" },
      { issuer: "iss-a", audience: "aud-a" },
    ];
    const counts = { accepted: 0, refused: 0, expired: 0 };
    const other = await mint({ sub: "other" });

    for (let i = 0; i < 2000; i++) {
      const claims: Record<string, unknown> = {};
      const set = (name: string, value: unknown) => {
        if (value !== undefined) claims[name] = value;
      };
      set(
        "sub",
        mostly(0.9, () => pick(["alice", "bob", "zoë 😀"]), ["", 7, undefined]),
      );
      set(
        "iss",
        mostly(0.75, () => "iss-a", ["iss-b", "", 1, null, undefined, undefined]),
      );
      set(
        "aud",
        mostly(0.75, () => pick(["aud-a", ["aud-b", "aud-a"], [1, "aud-a"]]), ["aud-b", ["aud-b"], [], 3, null, undefined, undefined]),
      );
      set(
        "exp",
        mostly(0.7, () => NOW + offset(), ["soon", null, true, undefined, undefined, undefined]),
      );
      set(
        "nbf",
        mostly(0.3, () => NOW + offset(), ["now", null, undefined, undefined, undefined, undefined, undefined, undefined]),
      );
      set(
        "iat",
        mostly(0.5, () => NOW + offset(), ["then", false, undefined, undefined, undefined, undefined]),
      );
      set(
        "tenant",
        mostly(0.5, () => pick(["t1", ["t1", "t2"], 4]), [undefined]),
      );
      set(
        "extra",
        mostly(0.3, () => ({ nested: [1, "two", { three: null }], s: "a\u2028b\u001ec" }), [undefined]),
      );

      const alg = random() < 0.9 ? "HS256" : pick(["HS384", "HS512"]);
      const header = { alg, ...(random() < 0.3 ? { typ: "JWT" } : {}), ...(random() < 0.2 ? { kid: "k1" } : {}) };
      let token = await mint(claims, header);
      const [h, p, s] = token.split(".") as [string, string, string];
      switch (pick(["none", "none", "none", "none", "none", "none", "signature", "payload", "header", "swap", "truncate", "dots"])) {
        case "signature":
          token = `${h}.${p}.${s.slice(0, 5)}${s[5] === "x" ? "y" : "x"}${s.slice(6)}`;
          break;
        case "payload":
          token = `${h}.${b64url(JSON.stringify({ ...claims, sub: "mallory" }))}.${s}`;
          break;
        case "header":
          token = `${b64url(JSON.stringify({ alg: pick(["none", "RS256", "HS512", "HS256"]), x: 1 }))}.${p}.${s}`;
          break;
        case "swap":
          token = `${h}.${other.split(".")[1]!}.${s}`;
          break;
        case "truncate":
          token = token.slice(0, Math.floor(random() * token.length));
          break;
        case "dots":
          token = `${token}.${s}`;
          break;
      }
      const options = pick(settings);
      const now = NOW + pick([0, 0, 17]);
      const expected = await reference(token, options, now);
      const actual = fast(token, options, now);
      expect({ token, options, now, outcome: actual }).toEqual({ token, options, now, outcome: expected });
      if (actual.ok) counts.accepted++;
      else if (actual.expiredClaims !== undefined) counts.expired++;
      else counts.refused++;
    }
    // The generator exercises all three outcomes substantially.
    expect(counts.accepted).toBeGreaterThan(200);
    expect(counts.expired).toBeGreaterThan(50);
    expect(counts.refused).toBeGreaterThan(500);
  });
});

describe("createAuthenticator with a shared secret", () => {
  const settings = {
    authJwtSecret: SECRET,
    authIssuer: "iss-a",
    authAudience: "aud-a",
    authUserClaim: "sub",
    authTenantClaim: "tenant",
    authAnonymous: false,
  };
  const now = () => Math.floor(Date.now() / 1000);

  it("identifies the user, tenants and expiry", async () => {
    const exp = now() + 600;
    const authenticate = createAuthenticator(settings);
    const token = await mint({ sub: "alice", iss: "iss-a", aud: "aud-a", tenant: ["t1", "", 3, "t2"], exp });
    await expect(authenticate(token)).resolves.toEqual({ userId: "alice", tenants: ["t1", "t2"], expiresAt: exp * 1000 });
    await expect(authenticate(await mint({ sub: "bob", iss: "iss-a", aud: ["aud-a"], tenant: "t9" }))).resolves.toEqual({
      userId: "bob",
      tenants: ["t9"],
      expiresAt: null,
    });
  });

  it("accepts an expired token only with acceptExpired, and only when nothing else fails", async () => {
    const authenticate = createAuthenticator(settings);
    const exp = now() - 120;
    const expired = await mint({ sub: "alice", iss: "iss-a", aud: "aud-a", exp });
    await expect(authenticate(expired)).rejects.toThrow(new AuthError("token expired"));
    await expect(authenticate(expired, { acceptExpired: true })).resolves.toEqual({ userId: "alice", tenants: [], expiresAt: exp * 1000 });
    const expiredWrongIssuer = await mint({ sub: "alice", iss: "iss-b", aud: "aud-a", exp });
    await expect(authenticate(expiredWrongIssuer, { acceptExpired: true })).rejects.toThrow(new AuthError("claim 'iss' is invalid"));
    const [h, p, s] = expired.split(".") as [string, string, string];
    await expect(authenticate(`${h}.${p}.${s.slice(1)}A`, { acceptExpired: true })).rejects.toThrow(
      new AuthError("signature verification failed"),
    );
  });

  it("refuses a user id with NUL (the store cannot key read state by it) and drops tenant ids with NUL", async () => {
    const authenticate = createAuthenticator(settings);
    await expect(authenticate(await mint({ sub: "a\u0000b", iss: "iss-a", aud: "aud-a" }))).rejects.toThrow(
      new AuthError("token's 'sub' claim contains NUL"),
    );
    await expect(authenticate(await mint({ sub: "alice", tenant: ["t1", "t\u0000", 5], iss: "iss-a", aud: "aud-a" }))).resolves.toEqual({
      userId: "alice",
      tenants: ["t1"],
      expiresAt: null,
    });
    await expect(authenticate(await mint({ sub: "alice", tenant: "t\u0000", iss: "iss-a", aud: "aud-a" }))).resolves.toMatchObject({
      tenants: [],
    });
  });

  it("refuses a token without the user claim, and no token unless anonymous mode is on", async () => {
    const authenticate = createAuthenticator(settings);
    await expect(authenticate(await mint({ iss: "iss-a", aud: "aud-a" }))).rejects.toThrow(new AuthError("token has no 'sub' claim"));
    await expect(authenticate(await mint({ sub: "", iss: "iss-a", aud: "aud-a" }))).rejects.toThrow(
      new AuthError("token has no 'sub' claim"),
    );
    await expect(authenticate(null)).rejects.toThrow(new AuthError("no access token"));
    await expect(createAuthenticator({ ...settings, authAnonymous: true })(null)).resolves.toMatchObject({ userId: null });
    await expect(createAuthenticator({ ...settings, authAnonymous: true })("garbage")).rejects.toThrow(
      new AuthError("Invalid Compact JWS"),
    );
  });
});

import { isAscii } from "node:buffer";
import { createHmac, createSecretKey, timingSafeEqual, type KeyObject } from "node:crypto";

/*
 * A synchronous HS256 JWT verifier on node:crypto, used instead of jose's `jwtVerify` for the
 * shared-secret case. Why hand-written: measured on the bench machine (Node 20, jose 6.2), jose's
 * jwtVerify costs 40-63 µs per token with a Uint8Array secret (it re-imports the WebCrypto key on every
 * call, then verifies asynchronously through WebCrypto), 36-40 µs with a KeyObject (jose 6 exports a
 * secret KeyObject to bytes and re-imports those per call too) and 24 µs with a pre-imported CryptoKey.
 * This path is ~4 µs: one HMAC-SHA256 (~2 µs), two base64url decodes and two JSON.parse. The
 * connect-rate bench went from ~100 to ~58 µs of server CPU per connect with it.
 *
 * It accepts exactly what jose's `jwtVerify(token, secret, { algorithms: ["HS256"], clockTolerance,
 * issuer, audience })` accepts, and refuses with the same messages, except that it is stricter in two
 * places (both only matter to tokens the secret's holder minted oddly; jose never mints them):
 * - base64url segments must use the unpadded URL alphabet only; jose (through `atob`) also accepts
 *   padding and ignores ASCII whitespace inside a segment;
 * - any `crit` header is refused; jose understands `crit: ["b64"]` with `b64: true`.
 * The differential test in hs256.test.ts compares both on many random claim sets and mutations.
 */

/** A token was refused. `message` is what the gateway reports (WWW-Authenticate error_description). */
export class JwtRefused extends Error {
  override readonly name = "JwtRefused";
  constructor(
    message: string,
    /**
     * Set only when the token is past `exp` (beyond the tolerance) and passed every other check: the
     * signature, header, issuer, audience, `iat` type and `nbf`. Its claims still name the user.
     */
    readonly expiredClaims?: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface Hs256Options {
  /** required `iss` (exact match) when set */
  readonly issuer?: string | undefined;
  /** required `aud` (the string, or an array containing it) when set */
  readonly audience?: string | undefined;
  /** seconds of clock skew allowed on `exp` and `nbf` (jose's clockTolerance) */
  readonly clockToleranceSeconds: number;
}

/** Verifies a compact HS256 JWT against the secret at `nowSeconds` (epoch seconds, integer); returns its claims or throws JwtRefused. */
export type Hs256Verifier = (token: string, nowSeconds: number) => Record<string, unknown>;

/** Unpadded base64url alphabet only. A length of 4n+1 cannot be base64 and is refused separately. */
const BASE64URL = /^[A-Za-z0-9_-]*$/;
const NON_ASCII = /[^\u0000-\u007f]/;
// fatal: invalid UTF-8 is refused, as jose's strict decoder does; the default ignoreBOM=false drops a leading BOM, as jose's does.
const strictUtf8 = new TextDecoder("utf-8", { fatal: true });

const SIGNATURE_BYTES = 32;

// jose's messages, kept verbatim so a refusal reads the same as before (auth.ts passes them on).
const INVALID_COMPACT = "Invalid Compact JWS";
const INVALID_HEADER = "JWS Protected Header is invalid";
const CRIT_UNSUPPORTED = '"crit" (Critical) Header Parameter is not supported';
const ALG_MISSING = 'JWS "alg" (Algorithm) Header Parameter missing or invalid';
const ALG_NOT_ALLOWED = '"alg" (Algorithm) Header Parameter value not allowed';
const PAYLOAD_NOT_ASCII = "The payload is not a valid base64url string";
const SIGNATURE_UNDECODABLE = "Failed to base64url decode the signature";
const SIGNATURE_FAILED = "signature verification failed";
const PAYLOAD_UNDECODABLE = "Failed to base64url decode the payload";
const CLAIMS_NOT_OBJECT = "JWT Claims Set must be a top-level JSON object";
const EXPIRED = "token expired";

function isBase64Url(segment: string): boolean {
  return segment.length % 4 !== 1 && BASE64URL.test(segment);
}

/** A base64url segment (already checked by isBase64Url) → its text, or null when it is not UTF-8. */
function decodeText(segment: string): string | null {
  const bytes = Buffer.from(segment, "base64url");
  // ASCII (the usual JSON) needs no UTF-8 validation: latin1 of ASCII bytes is the same text.
  if (isAscii(bytes)) return bytes.toString("latin1");
  try {
    return strictUtf8.decode(bytes);
  } catch {
    return null;
  }
}

/** A base64url JSON segment → a JSON object (not an array), or null. */
function decodeObject(segment: string): Record<string, unknown> | null {
  if (!isBase64Url(segment)) return null;
  const text = decodeText(segment);
  if (text === null) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
}

/** jose's JWTClaimValidationFailed as describeJoseError words it: reason "missing" | "invalid" | "check_failed". */
function claimRefused(claim: string, reason: "missing" | "invalid" | "check_failed"): JwtRefused {
  return new JwtRefused(`claim '${claim}' ${reason === "check_failed" ? "is invalid" : reason}`);
}

export function createHs256Verifier(secret: string, options: Hs256Options): Hs256Verifier {
  // UTF-8 bytes of the secret, as jose got them (TextEncoder). Imported once as a KeyObject.
  const key: KeyObject = createSecretKey(Buffer.from(secret, "utf8"));
  const { issuer, audience, clockToleranceSeconds: tolerance } = options;
  if (!Number.isFinite(tolerance) || tolerance < 0) throw new TypeError("clockToleranceSeconds must be a finite number >= 0");

  return (token, now) => {
    const first = token.indexOf(".");
    const second = first === -1 ? -1 : token.indexOf(".", first + 1);
    if (second === -1 || token.indexOf(".", second + 1) !== -1) throw new JwtRefused(INVALID_COMPACT);

    // Header: a JSON object, no `crit` (no extension is supported), alg exactly HS256 (refuses none, HS512, RS256, …).
    const header = decodeObject(token.slice(0, first));
    if (header === null) throw new JwtRefused(INVALID_HEADER);
    if (Object.hasOwn(header, "crit")) throw new JwtRefused(CRIT_UNSUPPORTED);
    const alg = header["alg"];
    if (typeof alg !== "string" || alg === "") throw new JwtRefused(ALG_MISSING);
    if (alg !== "HS256") throw new JwtRefused(ALG_NOT_ALLOWED);

    const payloadSegment = token.slice(first + 1, second);
    const payloadIsBase64Url = isBase64Url(payloadSegment);
    if (!payloadIsBase64Url && NON_ASCII.test(payloadSegment)) throw new JwtRefused(PAYLOAD_NOT_ASCII);

    // Signature: HMAC-SHA256 over the ASCII `header.payload`, compared in constant time.
    const signatureSegment = token.slice(second + 1);
    if (!isBase64Url(signatureSegment)) throw new JwtRefused(SIGNATURE_UNDECODABLE);
    const signature = Buffer.from(signatureSegment, "base64url");
    const expected = createHmac("sha256", key).update(token.slice(0, second), "latin1").digest();
    if (signature.length !== SIGNATURE_BYTES || !timingSafeEqual(signature, expected)) throw new JwtRefused(SIGNATURE_FAILED);

    // Claims, checked in jose's order: presence of iss/aud, iss, aud, then iat type, nbf, exp.
    if (!payloadIsBase64Url) throw new JwtRefused(PAYLOAD_UNDECODABLE);
    const claims = decodeObject(payloadSegment);
    if (claims === null) throw new JwtRefused(CLAIMS_NOT_OBJECT);
    if (issuer !== undefined && !Object.hasOwn(claims, "iss")) throw claimRefused("iss", "missing");
    if (audience !== undefined && !Object.hasOwn(claims, "aud")) throw claimRefused("aud", "missing");
    if (issuer !== undefined && claims["iss"] !== issuer) throw claimRefused("iss", "check_failed");
    if (audience !== undefined) {
      const aud = claims["aud"];
      if (!(typeof aud === "string" ? aud === audience : Array.isArray(aud) && aud.includes(audience)))
        throw claimRefused("aud", "check_failed");
    }
    const { iat, nbf, exp } = claims;
    if (iat !== undefined && typeof iat !== "number") throw claimRefused("iat", "invalid");
    if (nbf !== undefined) {
      if (typeof nbf !== "number") throw claimRefused("nbf", "invalid");
      if (nbf > now + tolerance) throw claimRefused("nbf", "check_failed");
    }
    if (exp !== undefined) {
      if (typeof exp !== "number") throw claimRefused("exp", "invalid");
      if (exp <= now - tolerance) throw new JwtRefused(EXPIRED, claims);
    }
    return claims;
  };
}

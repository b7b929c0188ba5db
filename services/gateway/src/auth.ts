import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTVerifyGetKey } from "jose";
import { createHs256Verifier, JwtRefused, type Hs256Verifier } from "./hs256.js";

/** Who is on the other end of a connection. `userId` null means anonymous. */
export interface Identity {
  readonly userId: string | null;
  /** tenant ids from the tenant claim; they only authorise Subscribe, never auto-join */
  readonly tenants: readonly string[];
  /** token expiry in epoch ms, or null (anonymous / no exp) */
  readonly expiresAt: number | null;
}

export const ANONYMOUS: Identity = Object.freeze({ userId: null, tenants: Object.freeze([]), expiresAt: null });

/** A credential was presented and refused, or none was presented where one is required. */
export class AuthError extends Error {
  override readonly name = "AuthError";
}

export interface AuthSettings {
  authJwtSecret?: string | undefined;
  authJwksUrl?: string | undefined;
  authIssuer?: string | undefined;
  authAudience?: string | undefined;
  authUserClaim: string;
  authTenantClaim: string;
  authAnonymous: boolean;
}

/**
 * `acceptExpired`: a token past its `exp` still identifies its user (every other check applies). Used on
 * the later requests of a connection, whose deliveries outlive the credential (docs/protocol.md §1).
 */
export type Authenticator = (token: string | null, options?: { acceptExpired?: boolean }) => Promise<Identity>;

/** Seconds of clock skew allowed on `exp` and `nbf`. */
const CLOCK_TOLERANCE_SECONDS = 30;

/**
 * Verifies JWTs: HS256 with a shared secret synchronously on node:crypto (hs256.ts: jose's checks and
 * messages, ~4 µs instead of 40-60 µs per token), or with jose against a remote JWKS; 30 s clock skew
 * either way.
 * A request without any credential (`token` null) is anonymous only when anonymous mode is on; a
 * request with a bad credential ("" from extractToken, or a token that fails a check) is refused even then.
 */
export function createAuthenticator(settings: AuthSettings): Authenticator {
  let hs256: Hs256Verifier | null = null;
  let jwks: JWTVerifyGetKey | null = null;
  if (settings.authJwtSecret !== undefined) {
    hs256 = createHs256Verifier(settings.authJwtSecret, {
      issuer: settings.authIssuer,
      audience: settings.authAudience,
      clockToleranceSeconds: CLOCK_TOLERANCE_SECONDS,
    });
  } else if (settings.authJwksUrl !== undefined) {
    jwks = createRemoteJWKSet(new URL(settings.authJwksUrl));
  }
  const verifyOptions = {
    clockTolerance: CLOCK_TOLERANCE_SECONDS,
    ...(settings.authIssuer === undefined ? {} : { issuer: settings.authIssuer }),
    ...(settings.authAudience === undefined ? {} : { audience: settings.authAudience }),
  };

  return async (token, options = {}) => {
    if (token === null) {
      if (settings.authAnonymous) return ANONYMOUS;
      throw new AuthError("no access token");
    }
    if (token === "") throw new AuthError("malformed credential");
    let payload: Record<string, unknown>;
    if (hs256 !== null) {
      try {
        payload = hs256(token, Math.floor(Date.now() / 1000));
      } catch (err) {
        // expiredClaims is set only when `exp` is the sole failed check (hs256.ts), as with jose below.
        if (options.acceptExpired === true && err instanceof JwtRefused && err.expiredClaims !== undefined) payload = err.expiredClaims;
        else throw new AuthError(err instanceof JwtRefused ? err.message : "malformed token", { cause: err });
      }
    } else if (jwks !== null) {
      try {
        payload = (await jwtVerify(token, jwks, verifyOptions)).payload;
      } catch (err) {
        // jose checks `exp` after the signature, issuer, audience and `nbf`, so an expired token's payload passed all of those.
        if (options.acceptExpired === true && err instanceof joseErrors.JWTExpired && err.claim === "exp") payload = err.payload;
        else throw new AuthError(describeJoseError(err), { cause: err });
      }
    } else {
      throw new AuthError("tokens are not accepted: no signing key is configured");
    }
    const userId = payload[settings.authUserClaim];
    if (typeof userId !== "string" || userId === "") throw new AuthError(`token has no '${settings.authUserClaim}' claim`);
    // The user id keys the user's stored read state, and the store cannot hold NUL: such a user could never be served.
    if (userId.includes("\u0000")) throw new AuthError(`token's '${settings.authUserClaim}' claim contains NUL`);
    return {
      userId,
      tenants: readTenants(payload[settings.authTenantClaim]),
      expiresAt: typeof payload["exp"] === "number" ? payload["exp"] * 1000 : null,
    };
  };
}

/** The tenant ids a claim names; an empty one or one with NUL names no tenant anyone can join (Subscribe refuses NUL). */
function readTenants(claim: unknown): readonly string[] {
  const usable = (t: unknown): t is string => typeof t === "string" && t !== "" && !t.includes("\u0000");
  if (usable(claim)) return [claim];
  if (Array.isArray(claim)) return claim.filter(usable);
  return [];
}

/**
 * Fixed reasons for jose's errors by code. The reason ends up in a response header, so it never
 * quotes the token: jose's own messages do (e.g. a `crit` header name, which may hold CR/LF).
 */
const JOSE_REASONS: Readonly<Record<string, string>> = {
  ERR_JOSE_ALG_NOT_ALLOWED: "algorithm not allowed",
  ERR_JOSE_NOT_SUPPORTED: "token uses an unsupported feature",
  ERR_JWS_INVALID: "malformed token",
  ERR_JWT_INVALID: "malformed token",
  ERR_JWS_SIGNATURE_VERIFICATION_FAILED: "signature verification failed",
  ERR_JWKS_NO_MATCHING_KEY: "no key in the key set matches the token",
  ERR_JWKS_MULTIPLE_MATCHING_KEYS: "several keys in the key set match the token",
  ERR_JWKS_TIMEOUT: "the key set could not be fetched",
  ERR_JWKS_INVALID: "the key set is invalid",
  ERR_JWK_INVALID: "the key set is invalid",
};
const CLAIM_NAME = /^[A-Za-z_]{1,32}$/;

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = CLAIM_NAME.test(err.claim) ? err.claim : "?";
    return `claim '${claim}' ${err.reason === "check_failed" ? "is invalid" : err.reason === "missing" ? "missing" : "invalid"}`;
  }
  if (err instanceof joseErrors.JOSEError) return JOSE_REASONS[err.code] ?? "invalid token";
  return "malformed token";
}

/**
 * The credential of a request: `Authorization: Bearer <token>`, else the `access_token` query parameter
 * (browsers cannot set headers on WS/SSE). null only when the request carries no credential at all;
 * "" when it carries one that is not a token (another scheme, an empty Bearer, an empty access_token),
 * which the authenticator refuses: such a request is never taken for an anonymous one.
 */
export function extractToken(authorizationHeader: string, accessTokenQuery: string | null): string | null {
  const header = authorizationHeader.trim();
  const bearer = /^Bearer\s+(\S+)$/i.exec(header)?.[1];
  if (bearer !== undefined) return bearer;
  if (accessTokenQuery !== null && accessTokenQuery !== "") return accessTokenQuery;
  return header !== "" || accessTokenQuery !== null ? "" : null;
}

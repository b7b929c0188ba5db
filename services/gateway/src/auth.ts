import { createRemoteJWKSet, errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from "jose";

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
 * the later requests of a connection, whose deliveries outlive the credential (wire spec §1).
 */
export type Authenticator = (token: string | null, options?: { acceptExpired?: boolean }) => Promise<Identity>;

/**
 * Verifies JWTs with jose (HS256 secret or a remote JWKS), 30 s clock skew. A request without a token
 * is anonymous only when anonymous mode is on; a request with a bad token is refused even then.
 */
export function createAuthenticator(settings: AuthSettings): Authenticator {
  let key: Uint8Array | JWTVerifyGetKey | null = null;
  let algorithms: string[] | undefined;
  if (settings.authJwtSecret !== undefined) {
    key = new TextEncoder().encode(settings.authJwtSecret);
    algorithms = ["HS256"];
  } else if (settings.authJwksUrl !== undefined) {
    key = createRemoteJWKSet(new URL(settings.authJwksUrl));
  }
  const verifyOptions = {
    clockTolerance: 30,
    ...(algorithms === undefined ? {} : { algorithms }),
    ...(settings.authIssuer === undefined ? {} : { issuer: settings.authIssuer }),
    ...(settings.authAudience === undefined ? {} : { audience: settings.authAudience }),
  };

  return async (token, options = {}) => {
    if (token === null || token === "") {
      if (settings.authAnonymous) return ANONYMOUS;
      throw new AuthError("no access token");
    }
    if (key === null) throw new AuthError("tokens are not accepted: no signing key is configured");
    let payload: JWTPayload;
    try {
      payload = (
        typeof key === "function" ? await jwtVerify(token, key, verifyOptions) : await jwtVerify(token, key, verifyOptions)
      ).payload;
    } catch (err) {
      // jose checks `exp` after the signature, issuer, audience and `nbf`, so an expired token's payload passed all of those.
      if (options.acceptExpired === true && err instanceof joseErrors.JWTExpired && err.claim === "exp") payload = err.payload;
      else throw new AuthError(describeJoseError(err), { cause: err });
    }
    const userId = payload[settings.authUserClaim];
    if (typeof userId !== "string" || userId === "") throw new AuthError(`token has no '${settings.authUserClaim}' claim`);
    return {
      userId,
      tenants: readTenants(payload[settings.authTenantClaim]),
      expiresAt: typeof payload.exp === "number" ? payload.exp * 1000 : null,
    };
  };
}

function readTenants(claim: unknown): readonly string[] {
  if (typeof claim === "string") return claim === "" ? [] : [claim];
  if (Array.isArray(claim)) return claim.filter((t): t is string => typeof t === "string" && t !== "");
  return [];
}

function describeJoseError(err: unknown): string {
  if (err instanceof joseErrors.JWTExpired) return "token expired";
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `claim '${err.claim}' ${err.reason === "check_failed" ? "is invalid" : err.reason}`;
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return "signature verification failed";
  if (err instanceof joseErrors.JOSEError) return err.message.slice(0, 120);
  return "malformed token";
}

/** Token from `Authorization: Bearer` or the `access_token` query parameter (browsers cannot set headers on WS/SSE). */
export function extractToken(authorizationHeader: string, accessTokenQuery: string | null): string | null {
  if (authorizationHeader !== "") {
    const match = /^Bearer\s+(.+)$/i.exec(authorizationHeader.trim());
    if (match?.[1] !== undefined) return match[1].trim();
  }
  return accessTokenQuery !== null && accessTokenQuery !== "" ? accessTokenQuery : null;
}

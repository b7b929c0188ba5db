import { SignJWT } from "jose";

/** HS256 secret shared by tests and the gateways they start (≥ 32 characters, as the gateway requires). */
export const TEST_JWT_SECRET = "tidings-test-secret-0123456789-abcdefghij";

export interface TokenClaims {
  sub?: string;
  tenant_id?: string | string[];
  /** seconds from now; negative for an already expired token */
  expiresIn?: number;
  [claim: string]: unknown;
}

/** Mints an HS256 JWT like an identity provider would. */
export async function mintToken(claims: TokenClaims, secret: string = TEST_JWT_SECRET): Promise<string> {
  const { expiresIn = 3600, ...rest } = claims;
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(rest)
    .setProtectedHeader({ alg: "HS256" })
    .setIssuedAt(now)
    .setExpirationTime(now + expiresIn)
    .sign(new TextEncoder().encode(secret));
}

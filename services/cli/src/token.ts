import { readFileSync } from "node:fs";
import { SignJWT } from "jose";
import { UsageError } from "./errors.js";

export interface TokenOptions {
  user: string;
  tenant: string[];
  expires: number;
  secretFile?: string;
}

/**
 * Mints an HS256 development JWT as the gateway expects it: the user id in TIDINGS_AUTH_USER_CLAIM
 * (`sub`), the tenants in TIDINGS_AUTH_TENANT_CLAIM (`tenant_id`), `iss`/`aud` from TIDINGS_AUTH_ISSUER
 * and TIDINGS_AUTH_AUDIENCE when set, signed with TIDINGS_AUTH_JWT_SECRET (or `--secret-file`).
 */
export async function mintDevToken(opts: TokenOptions, env: NodeJS.ProcessEnv): Promise<string> {
  const secret = opts.secretFile === undefined ? env["TIDINGS_AUTH_JWT_SECRET"] : readSecret(opts.secretFile);
  if (secret === undefined || secret === "") throw new UsageError("set TIDINGS_AUTH_JWT_SECRET (or pass --secret-file) to sign the token");
  if (secret.length < 32) throw new UsageError("the JWT secret must be at least 32 characters, as the gateway requires");
  const userClaim = env["TIDINGS_AUTH_USER_CLAIM"] || "sub";
  const tenantClaim = env["TIDINGS_AUTH_TENANT_CLAIM"] || "tenant_id";
  const claims: Record<string, unknown> = { [userClaim]: opts.user };
  if (opts.tenant.length > 0) claims[tenantClaim] = opts.tenant;
  const now = Math.floor(Date.now() / 1000);
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setIssuedAt(now)
    .setExpirationTime(now + opts.expires);
  const issuer = env["TIDINGS_AUTH_ISSUER"];
  const audience = env["TIDINGS_AUTH_AUDIENCE"];
  if (issuer !== undefined && issuer !== "") jwt = jwt.setIssuer(issuer);
  if (audience !== undefined && audience !== "") jwt = jwt.setAudience(audience);
  return jwt.sign(new TextEncoder().encode(secret));
}

function readSecret(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch (err) {
    throw new UsageError(`--secret-file ${path}: ${(err as Error).message}`);
  }
}

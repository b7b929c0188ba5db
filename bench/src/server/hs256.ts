import { createHmac, timingSafeEqual } from "node:crypto";

/**
 * A minimal synchronous HS256 check (header alg, signature, exp, sub) with node:crypto: the reference
 * the connect-rate harness compares the gateway's jose-based authentication against. Returns the
 * `sub`, or null when the token is refused.
 */
export function verifyHs256(token: string, secret: Buffer, nowSeconds: number): string | null {
  const first = token.indexOf(".");
  const second = token.indexOf(".", first + 1);
  if (first <= 0 || second <= first || token.indexOf(".", second + 1) !== -1) return null;
  const signature = Buffer.from(token.slice(second + 1), "base64url");
  const expected = createHmac("sha256", secret).update(token.slice(0, second)).digest();
  if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) return null;
  try {
    const header = JSON.parse(Buffer.from(token.slice(0, first), "base64url").toString("utf8")) as { alg?: unknown };
    if (header.alg !== "HS256") return null;
    const payload = JSON.parse(Buffer.from(token.slice(first + 1, second), "base64url").toString("utf8")) as {
      exp?: unknown;
      sub?: unknown;
    };
    if (typeof payload.exp === "number" && payload.exp + 30 < nowSeconds) return null;
    return typeof payload.sub === "string" && payload.sub !== "" ? payload.sub : null;
  } catch {
    return null;
  }
}

import { decodeJwt, jwtVerify } from "jose";
import { describe, expect, it } from "vitest";
import { mintToken, TEST_JWT_SECRET } from "./tokens.js";

describe("testkit - tokens", () => {
  it("mints an HS256 token that verifies with the test secret", async () => {
    const token = await mintToken({ sub: "u1", tenant_id: ["a", "b"] });
    const { payload } = await jwtVerify(token, new TextEncoder().encode(TEST_JWT_SECRET));
    expect(payload).toMatchObject({ sub: "u1", tenant_id: ["a", "b"] });
  });
  it("mints expired tokens on request", async () => {
    const token = await mintToken({ sub: "u1", expiresIn: -120 });
    expect(decodeJwt(token).exp).toBeLessThan(Date.now() / 1000);
  });
});

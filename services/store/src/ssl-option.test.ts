import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { sslOption } from "./create-store.js";

const dir = mkdtempSync(join(tmpdir(), "tidings-ssl-"));
const ca = join(dir, "ca.pem");
writeFileSync(ca, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("Postgres TLS settings → postgres.js ssl option", () => {
  it("leaves TLS to the URL's sslmode when nothing is set", () => {
    expect(sslOption({})).toBeUndefined();
  });

  it("verifies certificate and host name against the root certificate alone (libpq verify-full)", () => {
    const ssl = sslOption({ sslRootCert: ca }) as { ca: string; rejectUnauthorized: boolean; checkServerIdentity?: unknown };
    expect(ssl.ca).toContain("BEGIN CERTIFICATE");
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity).toBeUndefined();
  });

  it("verify-ca checks the chain but not the host name; require, prefer and disable pass through", () => {
    const ssl = sslOption({ sslMode: "verify-ca", sslRootCert: ca }) as { rejectUnauthorized: boolean; checkServerIdentity: () => unknown };
    expect(ssl.rejectUnauthorized).toBe(true);
    expect(ssl.checkServerIdentity()).toBeUndefined();
    expect(sslOption({ sslMode: "require" })).toBe("require");
    expect(sslOption({ sslMode: "prefer" })).toBe("prefer");
    expect(sslOption({ sslMode: "disable" })).toBe(false);
  });

  it("fails at start when the root certificate file is missing", () => {
    expect(() => sslOption({ sslRootCert: join(dir, "missing.pem") })).toThrow(/ENOENT/);
  });
});

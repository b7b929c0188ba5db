import { describe, expect, it } from "vitest";
import {
  AUDIENCE_KINDS,
  AudienceType,
  GLOBAL_AUDIENCE,
  audienceKey,
  isAudienceType,
  looksLikeSharedAudienceKey,
  parseAudienceRequest,
  tenantAudience,
  userAudience,
} from "./audience.js";
import { HubMethodError } from "./hub-errors.js";
import type { HubErrorCodeName } from "./hub-errors.js";

describe("audience - the audience table", () => {
  it("has one row per audience type, named as AudienceType names it", () => {
    for (const [name, type] of Object.entries(AudienceType)) {
      expect(AUDIENCE_KINDS[type]).toMatchObject({ type, name });
      expect(isAudienceType(type)).toBe(true);
    }
    for (const notAType of [0, 6, 2.5, "2", null, undefined]) expect(isAudienceType(notAType)).toBe(false);
  });

  it("only Tenant and Group are subscribable; only Connection is reached by connection id; only Global takes no value", () => {
    const kinds = Object.values(AUDIENCE_KINDS);
    expect(kinds.filter((k) => k.subscribable).map((k) => k.name)).toStrictEqual(["Tenant", "Group"]);
    expect(kinds.filter((k) => k.byConnectionId).map((k) => k.name)).toStrictEqual(["Connection"]);
    expect(kinds.filter((k) => k.valueless).map((k) => k.name)).toStrictEqual(["Global"]);
  });

  it("every shared key is recognised as one, so a connection value cannot alias it", () => {
    for (const key of [
      GLOBAL_AUDIENCE,
      tenantAudience("acme"),
      audienceKey(AudienceType.Group, "ops"),
      audienceKey(AudienceType.Group, "ops", "acme"),
      userAudience("u"),
    ]) {
      expect(looksLikeSharedAudienceKey(key)).toBe(true);
    }
    expect(looksLikeSharedAudienceKey("Xy_9-abc")).toBe(false);
    expect(looksLikeSharedAudienceKey("globalx")).toBe(false);
  });
});

describe("audience - keys", () => {
  it("builds the key of every audience type", () => {
    expect(audienceKey(AudienceType.Global, "global")).toBe("global");
    expect(audienceKey(AudienceType.Global, "ignored", "acme")).toBe(GLOBAL_AUDIENCE);
    expect(audienceKey(AudienceType.Tenant, "acme")).toBe("tenant:acme");
    expect(audienceKey(AudienceType.Tenant, "acme", "acme")).toBe("tenant:acme");
    expect(audienceKey(AudienceType.Group, "ops")).toBe("group:ops");
    expect(audienceKey(AudienceType.Group, "ops", null)).toBe("group:ops");
    expect(audienceKey(AudienceType.Group, "ops", "acme")).toBe("group:acme:ops");
    expect(audienceKey(AudienceType.User, "user-123")).toBe("user:user-123");
    expect(audienceKey(AudienceType.User, "user-123", "acme")).toBe("user:user-123");
    expect(audienceKey(AudienceType.Connection, "Xy_9-abc")).toBe("Xy_9-abc");
    expect(userAudience("user-123")).toBe("user:user-123");
    expect(tenantAudience("acme")).toBe("tenant:acme");
  });

  it("keeps Notiway's numbers", () => {
    expect(AudienceType).toStrictEqual({ Global: 1, Tenant: 2, Group: 3, User: 4, Connection: 5 });
  });
});

function refusal(arg: unknown): { code: HubErrorCodeName; message: string } {
  try {
    parseAudienceRequest(arg);
  } catch (err) {
    if (err instanceof HubMethodError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error("expected a refusal for " + JSON.stringify(arg));
}

describe("audience - parseAudienceRequest", () => {
  it("reads property names case-insensitively", () => {
    const expected = { audienceType: 3, audienceValue: "ops", tenantId: "acme", key: "group:acme:ops", tenantToValidate: "acme" };
    expect(parseAudienceRequest({ audienceType: 3, audienceValue: "ops", tenantId: "acme" })).toStrictEqual(expected);
    expect(parseAudienceRequest({ AudienceType: 3, AudienceValue: "ops", TenantId: "acme" })).toStrictEqual(expected);
    expect(parseAudienceRequest({ audiencetype: 3, AUDIENCEVALUE: "ops", tenantid: "acme", other: 1 })).toStrictEqual(expected);
  });

  it("returns Tenant and plain Group requests", () => {
    expect(parseAudienceRequest({ audienceType: 2, audienceValue: "acme" })).toStrictEqual({
      audienceType: 2,
      audienceValue: "acme",
      tenantId: null,
      key: "tenant:acme",
      tenantToValidate: "acme",
    });
    expect(parseAudienceRequest({ audienceType: 2, audienceValue: "acme", tenantId: "acme" })).toStrictEqual({
      audienceType: 2,
      audienceValue: "acme",
      tenantId: "acme",
      key: "tenant:acme",
      tenantToValidate: "acme",
    });
    expect(parseAudienceRequest({ audienceType: 3, audienceValue: "dashboard-ops", tenantId: null })).toStrictEqual({
      audienceType: 3,
      audienceValue: "dashboard-ops",
      tenantId: null,
      key: "group:dashboard-ops",
      tenantToValidate: null,
    });
    // The tenant part ends at the first ':', so a scoped group name may contain ':'.
    expect(parseAudienceRequest({ audienceType: 3, audienceValue: "a:b", tenantId: "acme" }).key).toBe("group:acme:a:b");
  });

  it("refuses Global, User and Connection with NotSupported", () => {
    for (const audienceType of [1, 4, 5]) {
      expect(refusal({ audienceType, audienceValue: "x" }).code).toBe("NotSupported");
      expect(refusal({ AudienceType: audienceType }).code).toBe("NotSupported");
    }
  });

  const wrong: [string, unknown][] = [
    ["no argument", undefined],
    ["null", null],
    ["a string", "tenant:acme"],
    ["an array", [2, "acme"]],
    ["no audienceType", { audienceValue: "acme" }],
    ["audienceType as a string", { audienceType: "2", audienceValue: "acme" }],
    ["unknown audienceType", { audienceType: 6, audienceValue: "acme" }],
    ["fractional audienceType", { audienceType: 2.5, audienceValue: "acme" }],
    ["no audienceValue", { audienceType: 3 }],
    ["empty audienceValue", { audienceType: 3, audienceValue: "" }],
    ["audienceValue too long", { audienceType: 3, audienceValue: "g".repeat(257) }],
    ["audienceValue not a string", { audienceType: 3, audienceValue: 5 }],
    ["tenantId not a string", { audienceType: 3, audienceValue: "g", tenantId: 5 }],
    ["tenantId empty", { audienceType: 3, audienceValue: "g", tenantId: "" }],
    ["tenantId with ':'", { audienceType: 3, audienceValue: "g", tenantId: "a:b" }],
    ["Tenant value with ':'", { audienceType: 2, audienceValue: "a:b" }],
    ["Tenant with another tenantId", { audienceType: 2, audienceValue: "acme", tenantId: "other" }],
    ["plain group name with ':' (would alias a tenant-scoped group)", { audienceType: 3, audienceValue: "acme:admins" }],
    ["audienceType given twice", { audienceType: 3, AudienceType: 3, audienceValue: "g" }],
    ["finding 6: audienceValue with NUL", { audienceType: 3, audienceValue: "g\u0000" }],
    ["finding 6: tenantId with NUL", { audienceType: 3, audienceValue: "g", tenantId: "t\u0000" }],
  ];
  it.each(wrong)("refuses %s with WrongInput", (_name, arg) => {
    const r = refusal(arg);
    expect(r.code).toBe("WrongInput");
    expect(r.message).toMatch(/^WrongInput: [A-Za-z].*\.$/);
  });

  it("accepts 256 characters and counts code points", () => {
    expect(parseAudienceRequest({ audienceType: 3, audienceValue: "g".repeat(256) }).key).toHaveLength(262);
    expect(parseAudienceRequest({ audienceType: 3, audienceValue: "\u{1F600}".repeat(256) }).audienceValue).toHaveLength(512);
  });
});

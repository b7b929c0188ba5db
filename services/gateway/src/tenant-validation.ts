/** Decides whether `userId` may join tenant `tenantId` (docs/contract.md §4, TIDINGS_TENANT_VALIDATION). */
export type TenantValidator = (userId: string, tenantId: string, claimTenants: readonly string[]) => Promise<boolean>;

export interface TenantValidationSettings {
  tenantValidation: "claims" | "http" | "none";
  tenantValidationUrl?: string | undefined;
  tenantValidationCacheSeconds: number;
}

const HTTP_TIMEOUT_MS = 2000;

export function createTenantValidator(settings: TenantValidationSettings): TenantValidator {
  switch (settings.tenantValidation) {
    case "none":
      return async () => true;
    case "claims":
      return async (_userId, tenantId, claimTenants) => claimTenants.includes(tenantId);
    case "http":
      return createHttpValidator(settings.tenantValidationUrl!, settings.tenantValidationCacheSeconds * 1000);
  }
}

/**
 * Asks the application: 200 allows, 403 refuses, anything else or no answer within 2 s refuses.
 * Answers (allow and refuse alike, not failures) are cached per (user, tenant).
 */
function createHttpValidator(url: string, cacheMs: number): TenantValidator {
  const cache = new Map<string, { allowed: boolean; until: number }>();
  return async (userId, tenantId) => {
    const key = `${userId}\n${tenantId}`;
    const now = Date.now();
    const hit = cache.get(key);
    if (hit !== undefined && hit.until > now) return hit.allowed;
    const target = new URL(url);
    target.searchParams.set("userId", userId);
    target.searchParams.set("tenantId", tenantId);
    let status: number;
    try {
      const res = await fetch(target, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ userId, tenantId }),
        signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
      });
      status = res.status;
      await res.body?.cancel();
    } catch {
      return false; // unreachable or timed out: refuse, do not cache
    }
    if (status !== 200 && status !== 403) return false;
    if (cache.size > 100_000) cache.clear();
    cache.set(key, { allowed: status === 200, until: now + cacheMs });
    return status === 200;
  };
}

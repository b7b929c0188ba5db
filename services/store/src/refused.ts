import { StoreRefusedError } from "@tidings/contracts";

/**
 * True when the database refused the data itself, so the same request fails again however often
 * it is retried: SQLSTATE class 22 (data exception: invalid byte sequence, NUL in text, bad JSON
 * escape, value out of range …) or 23 (integrity constraint violation), or a `StoreRefusedError`.
 * Connection failures, timeouts, shutdowns and every other class are transient.
 */
export function isRefusedByDatabase(err: unknown): boolean {
  if (err instanceof StoreRefusedError) return true;
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && /^2[23][0-9A-Z]{3}$/.test(code);
}

/**
 * True when retrying the call cannot help: arguments the store refuses (`RangeError`) or data the
 * database refuses. Anything else (connection lost, timeout, shutdown) may pass on a retry.
 */
export function isPermanentStoreFailure(err: unknown): boolean {
  return err instanceof RangeError || isRefusedByDatabase(err);
}

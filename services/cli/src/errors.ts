/** Wrong or missing arguments: exit code 2, followed by a pointer to `--help`. */
export class UsageError extends Error {
  override readonly name = "UsageError";
}

/** The command ran but what it did failed (unreachable, refused, unhealthy): exit code 1. */
export class Failure extends Error {
  override readonly name = "Failure";
}

/** The innermost cause of a failed `fetch` or socket call, e.g. `connect ECONNREFUSED 127.0.0.1:9`. */
export function causeOf(err: unknown): string {
  let e: unknown = err;
  while (e instanceof Error && e.cause instanceof Error) e = e.cause;
  if (e instanceof Error) return e.message;
  return String(e);
}

/** A Failure that names the URL and the cause. */
export function unreachable(url: string, err: unknown): Failure {
  return new Failure(`cannot reach ${url}: ${causeOf(err)}`);
}

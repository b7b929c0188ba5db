/**
 * Errors raised by every `Bus` implementation, matched by `name` as the `Bus` contract states
 * (`NoRespondersError`, `TimeoutError`), so callers need not know which implementation they hold.
 */

/** A request found no subscriber on its subject; raised at once, nothing was processed. */
export class NoRespondersError extends Error {
  constructor(
    readonly subject: string,
    options?: ErrorOptions,
  ) {
    super(`no responders on ${subject}`, options);
    this.name = "NoRespondersError";
  }
}

/** A request got no answer in time. It may still have been processed (at most once). */
export class TimeoutError extends Error {
  constructor(
    readonly subject: string,
    readonly timeoutMs: number,
    options?: ErrorOptions,
  ) {
    super(`no answer on ${subject} within ${timeoutMs} ms`, options);
    this.name = "TimeoutError";
  }
}

/** The bus was closed (or is draining) and refuses new work. */
export class BusClosedError extends Error {
  constructor(options?: ErrorOptions) {
    super("the bus is closed", options);
    this.name = "BusClosedError";
  }
}

export const errors = { NoRespondersError, TimeoutError, BusClosedError };

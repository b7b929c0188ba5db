import type { BusMessage } from "@tidings/contracts";

/** Called with whatever a subscription handler threw or rejected with. */
export type BusErrorHandler = (error: unknown, subject: string) => void;

/**
 * Calls a bus's subscription handlers: a throw or a rejection goes to `onError`, never unhandled, and
 * the promises of handlers still running are kept, so that closing the bus can wait for them.
 */
export class HandlerRuns {
  readonly #running = new Set<Promise<void>>();

  constructor(readonly onError: BusErrorHandler) {}

  /** Handlers called and not yet settled. */
  get size(): number {
    return this.#running.size;
  }

  call(handler: (msg: BusMessage) => void | Promise<void>, msg: BusMessage, subject: string): void {
    try {
      const result = handler(msg);
      if (result instanceof Promise) this.#track(result, subject);
    } catch (error) {
      this.onError(error, subject);
    }
  }

  /** Resolves once every handler running now has settled. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.#running]);
  }

  #track(result: Promise<void>, subject: string): void {
    const settled = result.then(
      () => undefined,
      (error: unknown) => this.onError(error, subject),
    );
    this.#running.add(settled);
    void settled.finally(() => this.#running.delete(settled));
  }
}

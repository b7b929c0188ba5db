/**
 * Runs tasks one after another per key and concurrently across keys. The router uses it per
 * audience key, so notifications to one audience are published in the order they were fetched
 * even while up to `maxInFlight` messages are handled at once (docs/contract.md §5 ordering).
 */
export class KeyedSerial {
  readonly #tails = new Map<string, Promise<void>>();

  /** Runs `task` after every earlier task of `key` has settled; rejects as `task` does. */
  run<T>(key: string, task: () => Promise<T>): Promise<T> {
    const previous = this.#tails.get(key);
    const result = previous === undefined ? task() : previous.then(task);
    // Settles after `task` either way; the key is forgotten then unless a later task queued behind it.
    const settled = (): void => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    };
    const tail: Promise<void> = result.then(settled, settled);
    this.#tails.set(key, tail);
    return result;
  }

  /** True while a task of `key` is queued or running (a task started now would wait for it). */
  busy(key: string): boolean {
    return this.#tails.has(key);
  }

  /** Keys with a task queued or running. */
  get size(): number {
    return this.#tails.size;
  }
}

import type { Bus, BusHeaders, BusMessage, BusSubscription } from "@tidings/contracts";

/**
 * The least `Bus` the store's request-reply needs, for tests: exact subjects only (no wildcards),
 * queue groups ignored, replies through a per-request inbox subject, `NoRespondersError` and
 * `TimeoutError` as the interface names them. Handlers run on a later microtask, as over a network.
 */
export class TinyBus implements Bus {
  readonly #subs = new Map<string, Set<(msg: BusMessage) => void | Promise<void>>>();
  #inbox = 0;
  #closed = false;

  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void {
    this.#deliver({ subject, data, headers: headers ?? null, reply: null });
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>): BusSubscription {
    this.#open();
    const set = this.#subs.get(subject) ?? new Set();
    set.add(handler);
    this.#subs.set(subject, set);
    return { subject, unsubscribe: () => void set.delete(handler) };
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: BusHeaders }): Promise<BusMessage> {
    this.#open();
    if ((this.#subs.get(subject)?.size ?? 0) === 0) {
      const err = new Error(`no responders on ${subject}`);
      err.name = "NoRespondersError";
      return Promise.reject(err);
    }
    const reply = `_INBOX.${++this.#inbox}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        sub.unsubscribe();
        const err = new Error(`no answer on ${subject} within ${opts.timeoutMs} ms`);
        err.name = "TimeoutError";
        reject(err);
      }, opts.timeoutMs);
      const sub = this.subscribe(reply, (msg) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(msg);
      });
      this.#deliver({ subject, data, headers: opts.headers ?? null, reply });
    });
  }

  async flush(): Promise<void> {}

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new Error("the bus is closed");
  }

  #deliver(msg: BusMessage): void {
    this.#open();
    for (const handler of this.#subs.get(msg.subject) ?? []) {
      queueMicrotask(() => void handler(msg));
    }
  }
}

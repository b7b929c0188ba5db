import { randomBytes } from "node:crypto";
import type { Bus, BusHeaders, BusMessage, BusSubscribeOptions, BusSubscription } from "@tidings/contracts";
import { BusClosedError, NoRespondersError, TimeoutError } from "./errors.js";
import { HandlerRuns, type BusErrorHandler } from "./handler-runs.js";
import { checkPattern, checkSubject, hasWildcard, tokensMatch } from "./subject-match.js";

export interface MemoryBusOptions {
  /** Receives handler failures (default: `console.error`). */
  onError?: BusErrorHandler;
}

interface MemorySub {
  readonly pattern: string;
  /** Null for an exact subject; the pattern's tokens for a wildcard one. */
  readonly tokens: readonly string[] | null;
  readonly queue: string | null;
  readonly handler: (msg: BusMessage) => void | Promise<void>;
  active: boolean;
}

const INBOX_PREFIX = "_INBOX.";
const CHECKED_SUBJECTS_MAX = 10_000;
const NO_SUBS: readonly MemorySub[] = [];

/**
 * The `Bus` inside one process (standalone mode, unit tests), with NATS semantics: at most once,
 * per-subscription publish order, queue groups, request-reply with no-responders and timeouts.
 * Delivery is asynchronous (batched on `setImmediate`), as with a server in between, so a handler
 * never runs inside `publish`. The payload is copied once per publish: like NATS, the publisher may
 * reuse its buffer as soon as `publish` returns.
 */
export class MemoryBus implements Bus {
  readonly #exact = new Map<string, MemorySub[]>();
  readonly #wildcard: MemorySub[] = [];
  readonly #handlers: HandlerRuns;
  /** Deliveries waiting for the next turn, flattened as subscription, message, subscription, message … */
  #pending: Array<MemorySub | BusMessage> = [];
  readonly #checkedSubjects = new Set<string>();
  #scheduled = false;
  #flushWaiters: Array<() => void> = [];
  /** `open` → `draining` (no new subscriptions or requests; handlers may still publish) → `closed`. */
  #state: "open" | "draining" | "closed" = "open";
  #closing: Promise<void> | null = null;

  constructor(opts: MemoryBusOptions = {}) {
    this.#handlers = new HandlerRuns(
      opts.onError ?? ((error, subject) => console.error(`MemoryBus: handler for ${subject} failed`, error)),
    );
  }

  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void {
    this.#send(subject, data, headers ?? null, null);
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>, opts: BusSubscribeOptions = {}): BusSubscription {
    if (this.#state !== "open") throw new BusClosedError();
    checkPattern(subject);
    const sub: MemorySub = {
      pattern: subject,
      tokens: hasWildcard(subject) ? subject.split(".") : null,
      queue: opts.queue ?? null,
      handler,
      active: true,
    };
    if (sub.tokens === null) {
      const list = this.#exact.get(subject);
      if (list === undefined) this.#exact.set(subject, [sub]);
      else list.push(sub);
    } else {
      this.#wildcard.push(sub);
    }
    return { subject, unsubscribe: () => this.#remove(sub) };
  }

  request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: BusHeaders }): Promise<BusMessage> {
    if (this.#state !== "open") return Promise.reject(new BusClosedError());
    checkSubject(subject);
    if (this.#matching(subject).length === 0) return Promise.reject(new NoRespondersError(subject));
    const inbox = INBOX_PREFIX + randomBytes(12).toString("base64url");
    return new Promise<BusMessage>((resolve, reject) => {
      const sub = this.subscribe(inbox, (answer) => {
        clearTimeout(timer);
        sub.unsubscribe();
        resolve(answer);
      });
      const timer = setTimeout(() => {
        sub.unsubscribe();
        reject(new TimeoutError(subject, opts.timeoutMs));
      }, opts.timeoutMs);
      this.#send(subject, data, opts.headers ?? null, inbox);
    });
  }

  /** Resolves once every message published before the call has been handed to its handlers. */
  flush(): Promise<void> {
    if (!this.#scheduled) return Promise.resolve();
    return new Promise((resolve) => this.#flushWaiters.push(resolve));
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    this.#state = "draining";
    // Messages already published reach their handlers, and handlers already called may still
    // publish (a reply, say); only then is the bus closed.
    while (this.#scheduled || this.#handlers.size > 0) {
      await this.flush();
      await this.#handlers.settled();
    }
    for (const list of this.#exact.values()) for (const s of list) s.active = false;
    for (const s of this.#wildcard) s.active = false;
    this.#exact.clear();
    this.#wildcard.length = 0;
    this.#state = "closed";
  }

  #send(subject: string, data: Uint8Array, headers: BusHeaders | null, reply: string | null): void {
    if (this.#state === "closed") throw new BusClosedError();
    this.#checkPublishSubject(subject);
    let candidates: readonly MemorySub[] = this.#exact.get(subject) ?? NO_SUBS;
    if (this.#wildcard.length > 0) {
      const tokens = subject.split(".");
      const matching = this.#wildcard.filter((sub) => tokensMatch(sub.tokens!, tokens));
      if (matching.length > 0) candidates = candidates.concat(matching);
    }
    if (candidates.length === 0) return;
    const msg: BusMessage = { subject, data: data.slice(), headers: headers === null ? null : { ...headers }, reply };
    let groups: Map<string, MemorySub[]> | null = null;
    for (const sub of candidates) {
      if (sub.queue === null) {
        this.#pending.push(sub, msg);
        continue;
      }
      groups ??= new Map();
      const members = groups.get(sub.queue);
      if (members === undefined) groups.set(sub.queue, [sub]);
      else members.push(sub);
    }
    if (groups !== null) {
      // One member per queue group, picked at random as nats-server does.
      for (const members of groups.values()) this.#pending.push(members[Math.floor(Math.random() * members.length)]!, msg);
    }
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#deliver());
    }
  }

  /** Subjects already checked; node and reply subjects repeat, so the hot path skips re-parsing them. */
  #checkPublishSubject(subject: string): void {
    if (this.#checkedSubjects.has(subject)) return;
    checkSubject(subject);
    if (this.#checkedSubjects.size >= CHECKED_SUBJECTS_MAX) this.#checkedSubjects.clear();
    this.#checkedSubjects.add(subject);
  }

  #deliver(): void {
    const batch = this.#pending;
    this.#pending = [];
    this.#scheduled = false;
    for (let i = 0; i < batch.length; i += 2) {
      const sub = batch[i] as MemorySub;
      if (!sub.active) continue;
      this.#handlers.call(sub.handler, batch[i + 1] as BusMessage, sub.pattern);
    }
    if (this.#pending.length > 0 && !this.#scheduled) {
      this.#scheduled = true;
      setImmediate(() => this.#deliver());
    }
    if (!this.#scheduled) {
      const waiters = this.#flushWaiters;
      this.#flushWaiters = [];
      for (const w of waiters) w();
    }
  }

  #matching(subject: string): MemorySub[] {
    const exact = this.#exact.get(subject);
    const out = exact === undefined ? [] : exact.slice();
    if (this.#wildcard.length > 0) {
      const tokens = subject.split(".");
      for (const sub of this.#wildcard) if (tokensMatch(sub.tokens!, tokens)) out.push(sub);
    }
    return out;
  }

  #remove(sub: MemorySub): void {
    if (!sub.active) return;
    sub.active = false;
    if (sub.tokens === null) {
      const list = this.#exact.get(sub.pattern);
      if (list === undefined) return;
      const i = list.indexOf(sub);
      if (i !== -1) list.splice(i, 1);
      if (list.length === 0) this.#exact.delete(sub.pattern);
    } else {
      const i = this.#wildcard.indexOf(sub);
      if (i !== -1) this.#wildcard.splice(i, 1);
    }
  }
}

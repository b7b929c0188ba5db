/**
 * The store over the bus: request-reply on `subjects.storeRequest(op)` (docs/architecture.md §5).
 * `BusNotificationStore` is what gateways and routers hold when the store runs as its own
 * service; the store service answers with `createStoreResponder` (`@tidings/store`). Both sides
 * use `storeCodecs` for the bodies.
 */
import type { DeliveredNotification } from "./delivered.js";
import type { Notification } from "./envelope.js";
import type {
  Bus,
  ListPage,
  ListQuery,
  NotificationStore,
  ReplayQuery,
  SaveOutcome,
  SaveResult,
  StateChange,
  StateChangeResult,
} from "./interfaces.js";
import { storeCodecs, type StoreAnswer, type StoreArgs, type StoreOp, type StoreOpCodecs, type StoreResults } from "./store-messages.js";
import { subjects } from "./subjects.js";

/**
 * The store did not answer, answered with an error, or answered something unreadable. The
 * operation may or may not have happened (request-reply is at most once); a `save` that rejects
 * with this was never reported stored, so the producer must be told to retry (HTTP 503).
 */
export class StoreUnavailableError extends Error {
  override readonly name = "StoreUnavailableError";
  /** No store replica subscribes to the operation's subject (none runs, or none of this version). */
  readonly noResponders: boolean;

  constructor(message: string, options?: ErrorOptions & { noResponders?: boolean }) {
    super(message, options);
    this.noResponders = options?.noResponders ?? false;
  }
}

/**
 * The store answered, and refuses this data for good (e.g. the database rejects the row as a data
 * or integrity error). Retrying the same request fails again: the caller must give it up.
 */
export class StoreRefusedError extends Error {
  override readonly name = "StoreRefusedError";
}

/**
 * True when retrying the same store call cannot succeed: the store refused the data
 * (`StoreRefusedError`) or the arguments (`RangeError`). Anything else is transient.
 */
export function isPermanentStoreError(err: unknown): boolean {
  return err instanceof Error && (err.name === "StoreRefusedError" || err instanceof RangeError);
}

export interface BusNotificationStoreOptions {
  /** How long to wait for the store's answer (TIDINGS_FORWARD_TIMEOUT_SECONDS in the cluster). */
  timeoutMs: number;
}

/**
 * `NotificationStore` over request-reply. Rejects with `StoreUnavailableError` on a timeout, when
 * no store is subscribed, on an `unavailable` error reply and on a malformed reply; with a
 * `RangeError` on an `invalid_request` reply, as `PostgresNotificationStore` does for the same
 * arguments; with `StoreRefusedError` on a `refused` reply.
 */
export class BusNotificationStore implements NotificationStore {
  readonly #bus: Bus;
  readonly #timeoutMs: number;

  constructor(bus: Bus, opts: BusNotificationStoreOptions) {
    this.#bus = bus;
    this.#timeoutMs = opts.timeoutMs;
  }

  save(n: Notification): Promise<SaveResult> {
    return this.#call("save", n);
  }

  /**
   * One `saveMany` request. A store replica that predates it does not subscribe to its subject;
   * then (no responders) each notification goes as its own `save`, so a router of this version
   * works beside older stores. A refusal of the whole request (one notification the store cannot
   * read) is narrowed down the same way, so only the refused ones fail.
   */
  async saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    if (ns.length === 0) return [];
    let outcomes: SaveOutcome[];
    try {
      outcomes = await this.#call("saveMany", ns);
    } catch (err) {
      const permanent = isPermanentStoreError(err);
      if (permanent && ns.length === 1) return [refusedOutcome(err)];
      if (!permanent && !(err instanceof StoreUnavailableError && err.noResponders)) throw err;
      return Promise.all(ns.map((n) => this.save(n).then(savedOutcome, refusedOutcome)));
    }
    if (outcomes.length !== ns.length)
      throw new StoreUnavailableError(`store saveMany: ${outcomes.length} outcomes for ${ns.length} notifications`);
    return outcomes;
  }

  replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    return this.#call("replay", q);
  }

  setState(q: StateChange): Promise<StateChangeResult> {
    return this.#call("setState", q);
  }

  listForUser(q: ListQuery): Promise<ListPage> {
    return this.#call("list", q);
  }

  expire(now: Date, batch: number): Promise<number> {
    return this.#call("expire", { now, batch });
  }

  /**
   * A cheap health request: resolves when a store replica answers that its database is reachable,
   * rejects with `StoreUnavailableError` otherwise. Waits at most `timeoutMs` (default: the store
   * timeout, at most 2 s, so a prober is not stuck on a store that does not answer).
   */
  async ping(timeoutMs: number = Math.min(2000, this.#timeoutMs)): Promise<void> {
    await this.#call("ping", {}, timeoutMs);
  }

  async #call<Op extends StoreOp>(op: Op, args: StoreArgs[Op], timeoutMs: number = this.#timeoutMs): Promise<StoreResults[Op]> {
    const codecs: StoreOpCodecs<Op> = storeCodecs[op];
    let data: Uint8Array;
    try {
      const msg = await this.#bus.request(subjects.storeRequest(op), codecs.request.encode(args), { timeoutMs });
      data = msg.data;
    } catch (err) {
      const reason = err instanceof Error && err.name === "TimeoutError" ? `no answer within ${timeoutMs} ms` : errorText(err);
      // The bus names its errors (see `Bus.request`); this is the one place that reads the name.
      const noResponders = err instanceof Error && err.name === "NoRespondersError";
      throw new StoreUnavailableError(`store ${op}: ${reason}`, { cause: err, noResponders });
    }
    let answer: StoreAnswer<Op>;
    try {
      answer = codecs.answer.decode(data);
    } catch (err) {
      throw new StoreUnavailableError(`store ${op}: ${(err as Error).message}`, { cause: err });
    }
    if (answer.ok) return answer.value;
    if (answer.code === "invalid_request") throw new RangeError(`store ${op}: ${answer.error}`);
    if (answer.code === "refused") throw new StoreRefusedError(`store ${op}: ${answer.error}`);
    throw new StoreUnavailableError(`store ${op}: ${answer.error}`);
  }
}

const savedOutcome = (result: SaveResult): SaveOutcome => ({ ok: true, result });

/** A permanent failure of one save as its outcome; a transient one fails the whole call. */
function refusedOutcome(err: unknown): SaveOutcome {
  if (!isPermanentStoreError(err)) throw err;
  return { ok: false, error: (err as Error).message };
}

function errorText(err: unknown): string {
  if (err instanceof Error) return err.name === "Error" ? err.message : `${err.name}: ${err.message}`;
  return String(err);
}

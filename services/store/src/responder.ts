import {
  STORE_OPS,
  storeCodecs,
  subjects,
  type Bus,
  type BusMessage,
  type BusSubscription,
  type NotificationStore,
  type StoreAnswer,
  type StoreArgs,
  type StoreErrorReply,
  type StoreOp,
  type StoreOpCodecs,
  type StoreResults,
} from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import { isRefusedByDatabase } from "./refused.js";

export interface StoreResponderOptions {
  /** Queue group shared by the store replicas, so each request is answered by one of them. */
  queue?: string;
  /** Failed operations are logged here at warn level. */
  logger?: Logger;
  /**
   * Answers `ping`: resolves when the database is reachable. Without it a ping only proves that
   * this responder is subscribed.
   */
  ping?: () => Promise<void>;
}

export interface StoreResponder {
  /** Stops taking requests and resolves when the requests already taken are answered. Idempotent. */
  close(): Promise<void>;
}

/** The queue group of the store service's request subjects. */
export const STORE_QUEUE = "tidings-store";

/** A request that cannot be served as sent; answered with code `invalid_request`. */
class InvalidRequest extends Error {}

/**
 * Serves `store` on `subjects.storeRequest(op)` for every op of `STORE_OPS` (the protocol of
 * `BusNotificationStore`). Every request with a reply subject gets exactly one answer: the result,
 * or `{error, code}`: `invalid_request` for a malformed body or arguments the store refuses
 * (RangeError), `refused` for data the database refuses for good (see `isRefusedByDatabase`),
 * `unavailable` for anything else (database down, connection lost). No input makes a handler throw.
 */
export function createStoreResponder(bus: Bus, store: NotificationStore, opts: StoreResponderOptions = {}): StoreResponder {
  const pending = new Set<Promise<void>>();
  const subscriptions: BusSubscription[] = STORE_OPS.map((op) =>
    bus.subscribe(
      subjects.storeRequest(op),
      (msg) => {
        const answer = respond(bus, store, op, msg, opts);
        pending.add(answer);
        void answer.finally(() => pending.delete(answer));
      },
      { queue: opts.queue ?? STORE_QUEUE },
    ),
  );
  let closing: Promise<void> | null = null;
  return {
    close() {
      closing ??= (async () => {
        for (const s of subscriptions) s.unsubscribe();
        await Promise.all(pending);
      })();
      return closing;
    },
  };
}

function errorCode(err: unknown): StoreErrorReply["code"] {
  if (err instanceof InvalidRequest || err instanceof RangeError) return "invalid_request";
  return isRefusedByDatabase(err) ? "refused" : "unavailable";
}

async function respond<Op extends StoreOp>(
  bus: Bus,
  store: NotificationStore,
  op: Op,
  msg: BusMessage,
  opts: StoreResponderOptions,
): Promise<void> {
  if (msg.reply === null) return;
  const logger = opts.logger;
  const codecs: StoreOpCodecs<Op> = storeCodecs[op];
  let answer: StoreAnswer<Op>;
  try {
    let args: StoreArgs[Op];
    try {
      args = codecs.request.decode(msg.data);
    } catch (err) {
      throw new InvalidRequest((err as Error).message, { cause: err });
    }
    answer = { ok: true, value: await SERVE[op](store, args, opts) };
  } catch (err) {
    const code = errorCode(err);
    if (code === "unavailable") logger?.warn({ err, op }, "store request failed");
    else if (code === "refused") logger?.warn({ err, op }, "the database refused the data");
    answer = { ok: false, error: err instanceof Error ? err.message : String(err), code };
  }
  try {
    bus.publish(msg.reply, codecs.answer.encode(answer));
  } catch (err) {
    // The bus is closing: the requester times out, as it would had this replica died.
    logger?.warn({ err, op }, "store reply not sent");
  }
}

/** Each operation against the store, typed by operation so a request and its result always match. */
const SERVE: {
  readonly [Op in StoreOp]: (store: NotificationStore, args: StoreArgs[Op], opts: StoreResponderOptions) => Promise<StoreResults[Op]>;
} = {
  save: (store, n) => store.save(n),
  saveMany: (store, ns) => store.saveMany(ns),
  replay: (store, q) => store.replay(q),
  setState: (store, q) => store.setState(q),
  list: (store, q) => store.listForUser(q),
  expire: (store, { now, batch }) => store.expire(now, batch),
  ping: async (_store, _args, opts) => {
    await opts.ping?.();
    return true;
  },
};

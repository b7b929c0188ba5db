import { presetLabels } from "@tidings/observability";
import { Counter, Histogram, type Registry } from "prom-client";
import type {
  DeliveredNotification,
  ListPage,
  ListQuery,
  Notification,
  NotificationStore,
  ReplayQuery,
  SaveOutcome,
  SaveResult,
  StateChange,
  StateChangeResult,
} from "@tidings/contracts";

/** The operations timed by `tidings_store_query_duration_seconds{op}`. */
const STORE_OPS = ["save", "saveMany", "replay", "setState", "list", "expire"] as const;
export type StoreOpLabel = (typeof STORE_OPS)[number];

const NAMES = {
  queryDuration: "tidings_store_query_duration_seconds",
  errors: "tidings_store_errors_total",
  saves: "tidings_store_saves_total",
  replayNotifications: "tidings_store_replay_notifications",
  swept: "tidings_store_swept_total",
  stateChanges: "tidings_store_state_changes_total",
} as const;

/** Every metric the store exports, for dashboards and alert rules to be checked against. */
export function metricNames(): string[] {
  return Object.values(NAMES);
}

export interface StoreMetrics {
  queryDuration: Histogram<"op">;
  errors: Counter<"op">;
  saves: Counter<"result">;
  replayNotifications: Histogram;
  swept: Counter;
  stateChanges: Counter<"kind">;
}

/** Registers the store's metrics on `registry`; throws if they are registered there already. */
export function createStoreMetrics(registry: Registry): StoreMetrics {
  const registers = [registry];
  return {
    queryDuration: new Histogram({
      name: NAMES.queryDuration,
      help: "Time of one store operation, from call to result or error, by operation.",
      labelNames: ["op"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    // Counters over known label values start at 0 for each, so rate() and alerts see them from the start.
    errors: presetLabels(
      new Counter({
        name: NAMES.errors,
        help: "Store operations that failed (database unreachable, query error, invalid arguments), by operation.",
        labelNames: ["op"],
        registers,
      }),
      { op: STORE_OPS },
    ),
    saves: presetLabels(
      new Counter({
        name: NAMES.saves,
        help: "Saved notifications by result: stored, duplicate (same audience and id already stored) or expired (not stored).",
        labelNames: ["result"],
        registers,
      }),
      { result: ["stored", "duplicate", "expired"] },
    ),
    replayNotifications: new Histogram({
      name: NAMES.replayNotifications,
      help: "Notifications returned by one replay.",
      buckets: [0, 1, 5, 10, 25, 50, 100, 250, 500, 1000],
      registers,
    }),
    swept: new Counter({ name: NAMES.swept, help: "Expired notifications deleted by the sweeper.", registers }),
    stateChanges: presetLabels(
      new Counter({
        name: NAMES.stateChanges,
        help: "Receipt changes that took effect (and so sent an event), by kind: read, unread or deleted.",
        labelNames: ["kind"],
        registers,
      }),
      { kind: ["read", "unread", "deleted"] },
    ),
  };
}

/** `store` with every call measured into `metrics`; results and errors pass through unchanged. */
export function instrumentStore(store: NotificationStore, metrics: StoreMetrics): NotificationStore {
  return new InstrumentedStore(store, metrics);
}

class InstrumentedStore implements NotificationStore {
  readonly #inner: NotificationStore;
  readonly #metrics: StoreMetrics;

  constructor(inner: NotificationStore, metrics: StoreMetrics) {
    this.#inner = inner;
    this.#metrics = metrics;
  }

  async save(n: Notification): Promise<SaveResult> {
    const result = await this.#timed("save", () => this.#inner.save(n));
    this.#metrics.saves.inc({ result });
    return result;
  }

  /** Timed as one operation; each outcome counts as a save by its result, or as a saveMany error when refused. */
  async saveMany(ns: readonly Notification[]): Promise<SaveOutcome[]> {
    const outcomes = await this.#timed("saveMany", () => this.#inner.saveMany(ns));
    for (const o of outcomes) {
      if (o.ok) this.#metrics.saves.inc({ result: o.result });
      else this.#metrics.errors.inc({ op: "saveMany" });
    }
    return outcomes;
  }

  async replay(q: ReplayQuery): Promise<DeliveredNotification[]> {
    const items = await this.#timed("replay", () => this.#inner.replay(q));
    this.#metrics.replayNotifications.observe(items.length);
    return items;
  }

  async setState(q: StateChange): Promise<StateChangeResult> {
    const result = await this.#timed("setState", () => this.#inner.setState(q));
    if (result.changed) this.#metrics.stateChanges.inc({ kind: q.deleted === true ? "deleted" : q.read ? "read" : "unread" });
    return result;
  }

  listForUser(q: ListQuery): Promise<ListPage> {
    return this.#timed("list", () => this.#inner.listForUser(q));
  }

  async expire(now: Date, batch: number): Promise<number> {
    const count = await this.#timed("expire", () => this.#inner.expire(now, batch));
    this.#metrics.swept.inc(count);
    return count;
  }

  async #timed<T>(op: StoreOpLabel, run: () => Promise<T>): Promise<T> {
    const end = this.#metrics.queryDuration.startTimer({ op });
    try {
      return await run();
    } catch (err) {
      this.#metrics.errors.inc({ op });
      throw err;
    } finally {
      end();
    }
  }
}

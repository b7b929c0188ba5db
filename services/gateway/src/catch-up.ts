import type { DeliveredNotification, NotificationStore } from "@tidings/contracts";
import type { Logger } from "@tidings/observability";
import type { HubConnection } from "./connection.js";

export interface CatchUpDeps {
  store: NotificationStore;
  /** The open connections of this node when the bus is back. */
  connections: () => Iterable<HubConnection>;
  /** Sends `connection` the stored notifications of `audiences` received since `since`, minus `skip`; never rejects. */
  replay: (
    connection: HubConnection,
    audiences: readonly string[],
    since: Date,
    skip: (n: DeliveredNotification) => boolean,
  ) => Promise<number | "failed">;
  /** True when this node delivered the notification live (within the fan-out's de-duplication window). */
  deliveredLive: (audienceId: string, id: string) => boolean;
  /**
   * How far before the detected disconnect a notification may have been sent to this node and lost
   * with the connection: the time to detect a dead connection plus clock skew between node and store.
   */
  lookBackMs: number;
  log: Logger;
  /** Replays running at once: a big node catches up without one query per connection in flight. */
  concurrency?: number;
  onCaughtUp?: (connections: number, sent: number) => void;
  /** How long a connection's catch-up is retried while the store does not answer (default 120 000 ms). */
  retryForMs?: number;
}

const RETRY_MIN_MS = 250;
const RETRY_MAX_MS = 5000;

/**
 * Closes the gap a broken NATS connection leaves. Routers publish to a node over core NATS (at most
 * once): whatever was in flight when the connection broke, or sent while it was down, never arrives,
 * while the router has acked it. Persisted notifications are in the store, so when the connection is
 * back every open connection is replayed what the store received from `lookBackMs` before the
 * disconnect on, minus what this node delivered live. The store comes back from the same outage, so a
 * replay it does not answer is retried (250 ms doubling to 5 s, for `retryForMs`) while the connection
 * is open. At least once: a notification that arrives live
 * while the catch-up runs may be sent twice (clients de-duplicate by id). Live-only notifications sent
 * during the gap are lost, as the contract allows.
 */
export class BusCatchUp {
  readonly #deps: CatchUpDeps;
  /** When the current outage began (epoch ms); null while connected. */
  #lostAt: number | null = null;

  constructor(deps: CatchUpDeps) {
    this.#deps = deps;
  }

  /** An outage began at `now`; of outages reported before the catch-up, the earliest start counts. */
  disconnected(now = Date.now()): void {
    this.#lostAt = this.#lostAt === null ? now : Math.min(this.#lostAt, now);
  }

  /** Resolves once every open connection has been caught up (a no-op when no outage was seen). */
  async reconnected(): Promise<void> {
    if (this.#lostAt === null) return;
    const since = new Date(this.#lostAt - this.#deps.lookBackMs);
    this.#lostAt = null;
    const pending = [...this.#deps.connections()].filter((c) => c.state === "open" && c.audiences.size > 0);
    const skip = (n: DeliveredNotification) => this.#deps.deliveredLive(n.audienceId, n.id);
    let sent = 0;
    let next = 0;
    const worker = async () => {
      while (next < pending.length) {
        const connection = pending[next++]!;
        const giveUpAt = Date.now() + (this.#deps.retryForMs ?? 120_000);
        for (let pause = RETRY_MIN_MS; ; pause = Math.min(pause * 2, RETRY_MAX_MS)) {
          const result = await this.#deps.replay(connection, [...connection.audiences], since, skip);
          if (result !== "failed") {
            sent += result;
            break;
          }
          if (connection.state !== "open" || Date.now() >= giveUpAt) {
            this.#deps.log.error(
              { connectionId: connection.id, since: since.toISOString() },
              "catch-up after the NATS outage gave up: the store did not answer",
            );
            break;
          }
          await new Promise((r) => setTimeout(r, pause));
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.#deps.concurrency ?? 8, pending.length) }, worker));
    this.#deps.log.info(
      { connections: pending.length, sent, since: since.toISOString() },
      "NATS connection back: caught up persisted notifications from the store",
    );
    this.#deps.onCaughtUp?.(pending.length, sent);
  }
}

import {
  AckPolicy,
  DeliverPolicy,
  DiscardPolicy,
  JetStreamApiCodes,
  JetStreamApiError,
  RetentionPolicy,
  StorageType,
  jetstream,
  jetstreamManager,
  type ConsumerMessages,
  type JetStreamClient,
  type JetStreamManager,
  type JsMsg,
  type StreamConfig,
} from "@nats-io/jetstream";
import { headers as natsHeaders, nanos, type NatsConnection } from "@nats-io/nats-core";
import {
  subjects,
  type BusHeaders,
  type IngestConsumer,
  type IngestMessage,
  type IngestPublishResult,
  type IngestQueue,
} from "@tidings/contracts";
import { toNatsHeaders } from "./headers.js";
import { deliveryCountOf, jsMessageHeaders } from "./nats-message.js";
import type { IngestBacklog } from "./ingest-backlog.js";
import { PubAckInbox } from "./pub-ack-inbox.js";

/** The durable pull consumer every router replica shares. */
export const ROUTER_CONSUMER = "tidings-router";

export interface JetStreamIngestQueueOptions {
  /** Stream name (default `TIDINGS`). Tests use their own to stay isolated. */
  stream?: string;
  /** Subjects the stream captures (default `tidings.notify.>`). */
  subjects?: string[];
  /** Durable consumer name (default `tidings-router`). */
  durable?: string;
  /** The durable consumer takes only messages on this subject (default: every subject of the stream). */
  filterSubject?: string;
  /** JetStream duplicate window for `Nats-Msg-Id` (default 120 000 ms). */
  duplicateWindowMs?: number;
  /** A delivery not acked within this time is redelivered (default 30 000 ms). */
  ackWaitMs?: number;
  /**
   * Deliveries per message before JetStream gives it up; -1 (default): never. Accepted means
   * durable, so only set a limit when losing a message that keeps failing is acceptable.
   */
  maxDeliver?: number;
  /** Most unacknowledged deliveries across all consumers of the durable (default 1000). */
  maxAckPending?: number;
  /** Longest wait for the JetStream publish ack or ack confirmation (default 5000 ms). */
  timeoutMs?: number;
  /** Receives handler failures and consume-loop errors (default: `console.error`). */
  onError?: (error: unknown) => void;
  /**
   * Stream replicas. Default: 3 when the connected NATS server belongs to a cluster of three or more
   * servers, else 1; an existing stream is never scaled down by this default.
   */
  replicas?: number;
  /** Most bytes the stream holds; a full stream refuses new messages. Default -1: no limit. */
  maxBytes?: number;
  /** Messages older than this are removed. Default 0: no limit. */
  maxAgeMs?: number;
  /**
   * True (the services): an existing stream is updated to the replicas, limits and duplicate window
   * of these options. Default false: an existing stream is used as it is (producers, tools); a
   * missing one is created with these options either way.
   */
  applyStreamConfig?: boolean;
}

/** The stream settings a queue applies; the rest (subjects, storage, retention) are fixed at create. */
export interface IngestStreamSettings {
  replicas: number;
  maxBytes: number;
  maxAgeMs: number;
  duplicateWindowMs: number;
}

/** JetStream de-duplicates publishes by this header within the stream's duplicate window. */
const MSG_ID_HEADER = "Nats-Msg-Id";

/** JetStream's "stream name already in use with a different configuration". */
const STREAM_NAME_IN_USE = 10058;

/** Pause before the consume loop retries after an error (consumer missing, server away). */
const RETRY_DELAY_MS = 500;

/**
 * The `IngestQueue` on JetStream: stream `TIDINGS` on `tidings.notify.>` (file storage, work-queue
 * retention: an acked message is removed, so the stream holds exactly the backlog) and the durable
 * pull consumer `tidings-router` with explicit acks that every router replica shares. Shares the
 * caller's connection; closing the connection is the caller's business.
 */
export class JetStreamIngestQueue implements IngestQueue, IngestBacklog {
  readonly #js: JetStreamClient;
  readonly #stream: string;
  readonly #durable: string;
  readonly #filterSubject: string | undefined;
  readonly #ackWaitMs: number;
  readonly #maxDeliver: number;
  readonly #maxAckPending: number;
  readonly #timeoutMs: number;
  readonly #onError: (error: unknown) => void;
  readonly #pubAcks: PubAckInbox;
  #consumerReady: Promise<void> | null = null;
  /** The acks sent since the last confirmation was asked for, settled by the next one; null when there are none. */
  #ackBatch: AckBatch | null = null;
  /** Whether a microtask that asks for the confirmation of `#ackBatch` is queued. */
  #confirmQueued = false;
  readonly #acker = (m: JsMsg): Promise<void> => this.#ack(m);

  private constructor(
    readonly connection: NatsConnection,
    readonly manager: JetStreamManager,
    opts: JetStreamIngestQueueOptions,
  ) {
    this.#js = jetstream(connection, { timeout: opts.timeoutMs ?? 5000 });
    this.#stream = opts.stream ?? subjects.stream;
    this.#durable = opts.durable ?? ROUTER_CONSUMER;
    this.#filterSubject = opts.filterSubject;
    this.#ackWaitMs = opts.ackWaitMs ?? 30_000;
    this.#maxDeliver = opts.maxDeliver ?? -1;
    this.#maxAckPending = opts.maxAckPending ?? 1000;
    this.#timeoutMs = opts.timeoutMs ?? 5000;
    this.#onError = opts.onError ?? ((error) => console.error("JetStreamIngestQueue:", error));
    this.#pubAcks = new PubAckInbox(connection, this.#timeoutMs);
  }

  /**
   * Connects the queue to JetStream and creates the stream when it does not exist; with
   * `applyStreamConfig`, an existing stream is updated to the replicas, limits and duplicate window of `opts`.
   */
  static async create(nc: NatsConnection, opts: JetStreamIngestQueueOptions = {}): Promise<JetStreamIngestQueue> {
    const jsm = await jetstreamManager(nc, { timeout: opts.timeoutMs ?? 5000 });
    const queue = new JetStreamIngestQueue(nc, jsm, opts);
    await queue.#ensureStream(opts.subjects ?? [subjects.notifyWildcard], opts);
    return queue;
  }

  /** The stream's current replicas, limits and duplicate window. */
  async streamSettings(): Promise<IngestStreamSettings> {
    return settingsOf((await this.manager.streams.info(this.#stream)).config);
  }

  get stream(): string {
    return this.#stream;
  }

  async publish(subject: string, data: Uint8Array, opts: { msgId: string; headers?: BusHeaders }): Promise<IngestPublishResult> {
    const headers = opts.headers === undefined ? natsHeaders() : toNatsHeaders(opts.headers);
    headers.set(MSG_ID_HEADER, opts.msgId);
    const ack = await this.#pubAcks.publish(subject, data, headers);
    return { duplicate: ack.duplicate, seq: ack.seq };
  }

  /**
   * Handles messages as the client receives them, at most `maxInFlight` at once, started in delivery
   * order. Messages arrive through the consumer's callback, synchronously within the client's read of
   * the socket, so everything the handlers send for one read (acks, the router's node publishes) goes
   * out in one socket write instead of one per message. Beyond `maxInFlight`, received messages wait
   * here in order; the client fetches at most `maxInFlight` ahead, so a message never waits in this
   * process for much longer than one handler takes.
   */
  consume(handler: (msg: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): IngestConsumer {
    const maxInFlight = Math.max(1, opts.maxInFlight);
    let running = 0;
    const idle = new Set<() => void>();
    /** received while every slot was taken, in delivery order */
    const waiting: JsMsg[] = [];
    let stopping = false;
    let messages: ConsumerMessages | null = null;
    let wakeRetry: (() => void) | null = null;

    /** A handler finished: its slot goes to the next waiting message. */
    const settled = (): void => {
      running--;
      const next = stopping ? undefined : waiting.shift();
      if (next !== undefined) run(next);
      else if (running === 0) for (const wake of idle) wake();
    };
    const failed = (m: JsMsg, error: unknown): void => {
      this.#onError(error);
      try {
        m.nak();
      } catch (nakError) {
        this.#onError(nakError);
      }
      settled();
    };
    // No async function and no `finally` per message: one reaction pair on the handler's promise.
    const run = (m: JsMsg) => {
      running++;
      let done: Promise<void>;
      try {
        done = handler(this.#toIngestMessage(m));
      } catch (error) {
        failed(m, error);
        return;
      }
      done.then(settled, (error: unknown) => failed(m, error));
    };

    const receive = (m: JsMsg) => {
      // Queued before the handlers write anything, so the confirmation of the acks they send now
      // goes out in the same socket write as those acks and publishes (see `#ack`).
      this.#queueConfirm();
      // Received after stop: hand it straight back so another replica takes it now.
      if (stopping) m.nak();
      else if (running < maxInFlight) run(m);
      else waiting.push(m);
    };

    const pause = () =>
      new Promise<void>((r) => {
        wakeRetry = r;
        setTimeout(r, RETRY_DELAY_MS);
      }).then(() => {
        wakeRetry = null;
      });

    const loop = (async () => {
      while (!stopping) {
        try {
          await this.#ensureConsumer();
          const consumer = await this.#js.consumers.get(this.#stream, this.#durable);
          if (stopping) break;
          messages = await consumer.consume({ max_messages: maxInFlight, callback: receive });
          if (stopping) break;
          const ended = await messages.closed();
          if (stopping) break;
          if (ended instanceof Error) throw ended;
          // Consuming ended without stop(): start over after a pause.
          await pause();
        } catch (error) {
          if (stopping) break;
          this.#consumerReady = null;
          this.#onError(error);
          await pause();
        }
      }
    })();

    let stopped: Promise<void> | null = null;
    return {
      stop: () => {
        stopped ??= (async () => {
          stopping = true;
          wakeRetry?.();
          await messages?.close();
          await loop;
          for (const m of waiting.splice(0)) m.nak();
          if (running > 0) {
            await new Promise<void>((r) => {
              const wake = () => {
                idle.delete(wake);
                r();
              };
              idle.add(wake);
            });
          }
        })();
        return stopped;
      },
    };
  }

  /** The durable consumer's `num_pending`: stored messages not yet delivered to any replica. */
  async pending(): Promise<number> {
    return (await this.stats()).pending;
  }

  /**
   * The durable consumer's counters: `pending` not yet delivered, `ackPending` delivered and not
   * yet acked, `redelivered` delivered more than once and not yet acked.
   */
  async stats(): Promise<{ pending: number; ackPending: number; redelivered: number }> {
    const info = await this.manager.consumers.info(this.#stream, this.#durable);
    return { pending: info.num_pending, ackPending: info.num_ack_pending, redelivered: info.num_redelivered };
  }

  #toIngestMessage(m: JsMsg): IngestMessage {
    return new JsIngestMessage(m, this.#acker);
  }

  /**
   * Acks in batches: each ack goes out at once as a plain ack, and the acks sent in one synchronous
   * stretch are confirmed together by one flush round trip (the server has read them when it
   * answers), so a resolved ack survives a router crash without a request, an inbox reply and a
   * timer per message. An ack lost with the server anyway only means a redelivery, which the store
   * and the gateways' dedupe absorb.
   *
   * The confirmation is asked for in a microtask. The client writes its buffered commands in a
   * microtask queued by the first command of a stretch; when ours was queued first (by `receive`,
   * before a handler publishes or acks), the flush's PING joins that buffer and everything leaves in
   * one socket write — one write per read of the socket instead of two, a syscall and a wake-up of
   * nats-server saved per message when messages arrive one at a time.
   */
  #ack(m: JsMsg): Promise<void> {
    m.ack();
    this.#ackBatch ??= new AckBatch();
    this.#queueConfirm();
    return this.#ackBatch.done;
  }

  #queueConfirm(): void {
    if (this.#confirmQueued) return;
    this.#confirmQueued = true;
    queueMicrotask(this.#confirmQueuedAcks);
  }

  readonly #confirmQueuedAcks = (): void => {
    this.#confirmQueued = false;
    const batch = this.#ackBatch;
    if (batch === null) return;
    this.#ackBatch = null;
    this.#confirm().then(batch.resolve, batch.reject);
  };

  /** One flush round trip, rejecting with a `TimeoutError` after `timeoutMs`. */
  #confirm(): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(Object.assign(new Error(`ack confirmation took longer than ${this.#timeoutMs} ms`), { name: "TimeoutError" })),
        this.#timeoutMs,
      );
    });
    return Promise.race([this.connection.flush(), timeout]).finally(() => clearTimeout(timer));
  }

  async #ensureStream(streamSubjects: string[], opts: JetStreamIngestQueueOptions): Promise<void> {
    let existing: StreamConfig | null = null;
    try {
      existing = (await this.manager.streams.info(this.#stream)).config;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.StreamNotFound)) throw error;
    }
    if (existing !== null && opts.applyStreamConfig !== true) return;
    const wanted = {
      num_replicas: opts.replicas ?? Math.max(clusterReplicas(this.connection), existing?.num_replicas ?? 1),
      max_bytes: opts.maxBytes ?? -1,
      max_age: nanos(opts.maxAgeMs ?? 0),
      duplicate_window: nanos(opts.duplicateWindowMs ?? 120_000),
      // A full stream refuses the publish (the producer sees an error and retries) instead of
      // dropping the oldest accepted notifications.
      discard: DiscardPolicy.New,
    };
    if (existing === null) {
      try {
        await this.manager.streams.add({
          name: this.#stream,
          subjects: streamSubjects,
          storage: StorageType.File,
          retention: RetentionPolicy.Workqueue,
          ...wanted,
        });
        return;
      } catch (error) {
        // Another process created it first with other settings: converge on ours, or use it as it is.
        if (!isApiError(error, STREAM_NAME_IN_USE)) throw error;
        if (opts.applyStreamConfig !== true) return;
        existing = (await this.manager.streams.info(this.#stream)).config;
      }
    }
    const same = (Object.keys(wanted) as Array<keyof typeof wanted>).every((k) => existing[k] === wanted[k]);
    if (!same) await this.manager.streams.update(this.#stream, { ...existing, ...wanted });
  }

  #ensureConsumer(): Promise<void> {
    this.#consumerReady ??= this.#createOrUpdateConsumer().catch((error: unknown) => {
      this.#consumerReady = null;
      throw error;
    });
    return this.#consumerReady;
  }

  async #createOrUpdateConsumer(): Promise<void> {
    const wanted = {
      ack_wait: nanos(this.#ackWaitMs),
      max_deliver: this.#maxDeliver,
      max_ack_pending: this.#maxAckPending,
    };
    try {
      const info = await this.manager.consumers.info(this.#stream, this.#durable);
      const c = info.config;
      if (c.ack_wait !== wanted.ack_wait || c.max_deliver !== wanted.max_deliver || c.max_ack_pending !== wanted.max_ack_pending) {
        await this.manager.consumers.update(this.#stream, this.#durable, wanted);
      }
      return;
    } catch (error) {
      if (!isApiError(error, JetStreamApiCodes.ConsumerNotFound)) throw error;
    }
    // Replicas racing to create it send the same config, which JetStream accepts as idempotent.
    await this.manager.consumers.add(this.#stream, {
      durable_name: this.#durable,
      ack_policy: AckPolicy.Explicit,
      deliver_policy: DeliverPolicy.All,
      ...(this.#filterSubject === undefined ? {} : { filter_subject: this.#filterSubject }),
      ...wanted,
    });
  }
}

/**
 * 3 when the server is in a cluster that (by the client URLs it advertises) has three or more
 * servers, else 1. Servers that do not advertise (`no_advertise`) count as one: set the replicas
 * explicitly there.
 */
function clusterReplicas(nc: NatsConnection): number {
  const info = nc.info;
  if (info?.cluster === undefined) return 1;
  return new Set(info.connect_urls ?? []).size >= 3 ? 3 : 1;
}

function settingsOf(c: StreamConfig): IngestStreamSettings {
  return { replicas: c.num_replicas, maxBytes: c.max_bytes, maxAgeMs: c.max_age / 1e6, duplicateWindowMs: c.duplicate_window / 1e6 };
}

function isApiError(error: unknown, code: number): boolean {
  return error instanceof JetStreamApiError && error.code === code;
}

/**
 * A received JetStream message as the handler sees it: one object per message, no closure each. The
 * payload view and the headers are made once (nats.js makes a new view per read of `data` and parses
 * headers into a `Map` of arrays); the delivery count is read from the ack subject when asked for.
 */
class JsIngestMessage implements IngestMessage {
  readonly data: Uint8Array;
  readonly headers: BusHeaders | null;
  #deliveryCount = 0;
  constructor(
    readonly msg: JsMsg,
    readonly acker: (m: JsMsg) => Promise<void>,
  ) {
    this.data = msg.data;
    this.headers = jsMessageHeaders(msg);
  }
  get subject(): string {
    return this.msg.subject;
  }
  get deliveryCount(): number {
    if (this.#deliveryCount === 0) this.#deliveryCount = deliveryCountOf(this.msg);
    return this.#deliveryCount;
  }
  ack(): Promise<void> {
    return this.acker(this.msg);
  }
  nak(delayMs = 0): void {
    this.msg.nak(delayMs);
  }
  working(): void {
    this.msg.working();
  }
}

/** One confirmation's promise, settled from outside. */
class AckBatch {
  resolve!: () => void;
  reject!: (error: unknown) => void;
  readonly done = new Promise<void>((resolve, reject) => {
    this.resolve = resolve;
    this.reject = reject;
  });
}

import { JetStreamApiError, JetStreamError } from "@nats-io/jetstream";
import { createInbox, errors as natsErrors, type Msg, type MsgHdrs, type NatsConnection, type Subscription } from "@nats-io/nats-core";

/** What JetStream answers to a stored (or de-duplicated) publish. */
export interface PubAck {
  stream: string;
  seq: number;
  duplicate: boolean;
}

interface Waiting {
  resolve(ack: PubAck): void;
  reject(error: Error): void;
  /** `performance.now()` after which the publish fails with a timeout */
  deadline: number;
}

const decoder = new TextDecoder();

/**
 * JetStream publishes awaiting their PubAck, answered on one wildcard inbox subscription. Same
 * outcome as nats.js's `js.publish` (resolves with the PubAck; rejects with `JetStreamApiError` when
 * JetStream refuses the message, `JetStreamNotEnabled` when nothing captures the subject, `TimeoutError`
 * after `timeoutMs`) without its per-publish costs: nats.js's `request()` arms a timer and builds a
 * `RequestError("cancelled")` (a stack capture) for every request that completes, which was ~7% of
 * a gateway's CPU on HTTP ingest. Here the waits share one timer: every publish has the same timeout,
 * so deadlines expire in publish order and only the oldest needs one.
 */
export class PubAckInbox {
  readonly #prefix = `${createInbox()}.`;
  readonly #waiting = new Map<string, Waiting>();
  #sub: Subscription | null = null;
  #next = 0;
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly nc: NatsConnection,
    private readonly timeoutMs: number,
  ) {}

  /** Publishes `data` on `subject` and resolves with JetStream's answer. */
  publish(subject: string, data: Uint8Array, headers: MsgHdrs): Promise<PubAck> {
    this.#sub ??= this.#subscribe();
    const token = (this.#next++).toString(36);
    return new Promise<PubAck>((resolve, reject) => {
      // throws (the promise rejects) when the connection is closed
      this.nc.publish(subject, data, { reply: this.#prefix + token, headers });
      this.#waiting.set(token, { resolve, reject, deadline: performance.now() + this.timeoutMs });
      this.#timer ??= setTimeout(this.#expire, this.timeoutMs);
    });
  }

  #subscribe(): Subscription {
    const sub = this.nc.subscribe(`${this.#prefix}*`, {
      callback: (err, msg) => (err === null ? this.#answer(msg) : this.#failAll(err)),
    });
    // The connection closed: nothing pending will be answered.
    void sub.closed.then(
      () => this.#failAll(new natsErrors.ClosedConnectionError()),
      (err: unknown) => this.#failAll(err instanceof Error ? err : new natsErrors.ClosedConnectionError()),
    );
    return sub;
  }

  #answer(msg: Msg): void {
    const token = msg.subject.slice(this.#prefix.length);
    const w = this.#waiting.get(token);
    if (w === undefined) return; // answered after its timeout
    this.#waiting.delete(token);
    try {
      w.resolve(parsePubAck(msg));
    } catch (error) {
      w.reject(error as Error);
    }
  }

  readonly #expire = () => {
    this.#timer = null;
    const now = performance.now();
    for (const [token, w] of this.#waiting) {
      if (w.deadline > now) {
        this.#timer = setTimeout(this.#expire, w.deadline - now);
        return;
      }
      this.#waiting.delete(token);
      w.reject(new natsErrors.TimeoutError());
    }
  };

  #failAll(error: Error): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    const waiting = [...this.#waiting.values()];
    this.#waiting.clear();
    for (const w of waiting) w.reject(error);
  }
}

/** JetStream's answer to a publish, as nats.js's `js.publish` reads it. */
function parsePubAck(msg: Msg): PubAck {
  // no responders: no stream captures the subject (or JetStream is off)
  if (msg.data.length === 0 && msg.headers?.code === 503) throw new JetStreamNotEnabled();
  const v = JSON.parse(decoder.decode(msg.data)) as {
    stream?: string;
    seq?: number;
    duplicate?: boolean;
    error?: ConstructorParameters<typeof JetStreamApiError>[0];
  };
  if (v.error !== undefined) throw new JetStreamApiError(v.error);
  if (typeof v.stream !== "string" || v.stream === "" || typeof v.seq !== "number") throw new JetStreamError("invalid ack response");
  return { stream: v.stream, seq: v.seq, duplicate: v.duplicate === true };
}

/** nats.js's error for a JetStream publish nobody answered. */
class JetStreamNotEnabled extends Error {
  constructor() {
    super("jetstream is not enabled");
    this.name = "JetStreamNotEnabled";
  }
}

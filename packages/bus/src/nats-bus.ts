import { readFileSync } from "node:fs";
import { connect } from "@nats-io/transport-node";
import {
  credsAuthenticator,
  errors as natsErrors,
  nkeyAuthenticator,
  type ConnectionOptions,
  type Msg,
  type MsgHdrs,
  type NatsConnection,
  type Subscription,
} from "@nats-io/nats-core";
import type { Bus, BusHeaders, BusMessage, BusSubscribeOptions, BusSubscription } from "@tidings/contracts";
import { BusClosedError, NoRespondersError, TimeoutError } from "./errors.js";
import { toNatsHeaders } from "./headers.js";
import { receivedHeaders } from "./nats-message.js";
import { HandlerRuns, type BusErrorHandler } from "./handler-runs.js";

export interface NatsBusOptions {
  /** Receives handler failures and subscription errors (default: `console.error`). */
  onError?: BusErrorHandler;
}

/**
 * Client pings: a connection whose server stopped answering (a half-open link) is declared dead
 * after at most NATS_PING_INTERVAL_MS × (NATS_MAX_PINGS_OUT + 1), far sooner than the client's
 * 2-minute default, so a gateway's catch-up after an outage looks back a bounded time.
 */
export const NATS_PING_INTERVAL_MS = 10_000;
export const NATS_MAX_PINGS_OUT = 2;
/** The longest a broken connection can go unnoticed with these pings. */
export const NATS_DEAD_CONNECTION_DETECTION_MS = NATS_PING_INTERVAL_MS * (NATS_MAX_PINGS_OUT + 1);

export interface ConnectNatsBusOptions extends NatsBusOptions {
  /** Client name shown by the server (`nats server report connections`). */
  name?: string;
  /** Pause between reconnect attempts (default 250 ms). */
  reconnectTimeWaitMs?: number;
  /** Credentials and TLS files (the `TIDINGS_NATS_*` settings; pass the config itself). */
  security?: NatsSecurity;
  /** Told each time the connection is lost or regained, until it closes. */
  onConnectionChange?: (status: "disconnect" | "reconnect", server: string) => void;
}

/** File-based NATS authentication and TLS; every file is read again at each (re)connect, so rotated files apply. */
export interface NatsSecurity {
  /** `.creds` file: user JWT and nkey seed. */
  natsCredsFile?: string | undefined;
  /** File holding a user nkey seed. */
  natsNkeySeedFile?: string | undefined;
  /** CA bundle for the server certificate; setting it (or a client certificate) turns TLS on. */
  natsTlsCaFile?: string | undefined;
  /** Client certificate and key for mutual TLS. */
  natsTlsCertFile?: string | undefined;
  natsTlsKeyFile?: string | undefined;
}

/** The NATS connect options (authenticator, TLS) of a `NatsSecurity`. */
export function natsSecurityOptions(s: NatsSecurity): Partial<ConnectionOptions> {
  const opts: Partial<ConnectionOptions> = {};
  const { natsCredsFile: creds, natsNkeySeedFile: seed } = s;
  if (creds !== undefined) opts.authenticator = credsAuthenticator(() => readFileSync(creds));
  else if (seed !== undefined) opts.authenticator = nkeyAuthenticator(() => new TextEncoder().encode(readFileSync(seed, "utf8").trim()));
  if (s.natsTlsCaFile !== undefined || s.natsTlsCertFile !== undefined) {
    opts.tls = {
      ...(s.natsTlsCaFile === undefined ? {} : { caFile: s.natsTlsCaFile }),
      ...(s.natsTlsCertFile === undefined ? {} : { certFile: s.natsTlsCertFile }),
      ...(s.natsTlsKeyFile === undefined ? {} : { keyFile: s.natsTlsKeyFile }),
    };
  }
  return opts;
}

/**
 * The `Bus` on a NATS connection (core NATS: at most once). The connection belongs to the bus:
 * `close()` drains and closes it. `connection` is exposed so a `JetStreamIngestQueue` can share it.
 */
export class NatsBus implements Bus {
  readonly #subs = new Set<Subscription>();
  readonly #handlers: HandlerRuns;
  #closing: Promise<void> | null = null;
  /**
   * The NATS form of the last headers object published. The router publishes one notification to
   * every owning node with the same (read-only) headers object, so they are converted and
   * serialised once per notification, not once per node publish.
   */
  #lastHeaders: { from: BusHeaders; options: { headers: MsgHdrs } } | null = null;
  /**
   * The options of every publish without headers. nats.js makes `{}` per publish when given none and
   * sets `reply: ""` on the object it is given; this one is only ever given to it.
   */
  readonly #noOptions = {};

  constructor(
    readonly connection: NatsConnection,
    opts: NatsBusOptions = {},
  ) {
    this.#handlers = new HandlerRuns(opts.onError ?? ((error, subject) => console.error(`NatsBus: handler for ${subject} failed`, error)));
  }

  publish(subject: string, data: Uint8Array, headers?: BusHeaders): void {
    this.#checkOpen();
    this.connection.publish(subject, data, headers === undefined ? this.#noOptions : this.#headerOptions(headers));
  }

  #headerOptions(headers: BusHeaders): { headers: MsgHdrs } {
    if (this.#lastHeaders?.from !== headers) {
      // nats.js serialises headers with their (untyped) `encode()` on every publish; these bytes never
      // change, so it gets them computed once.
      const to = toNatsHeaders(headers) as MsgHdrs & { encode(): Uint8Array };
      const bytes = to.encode();
      to.encode = () => bytes;
      this.#lastHeaders = { from: headers, options: { headers: to } };
    }
    return this.#lastHeaders.options;
  }

  subscribe(subject: string, handler: (msg: BusMessage) => void | Promise<void>, opts: BusSubscribeOptions = {}): BusSubscription {
    if (this.#closing !== null) throw new BusClosedError();
    const sub = this.connection.subscribe(subject, {
      ...(opts.queue === undefined ? {} : { queue: opts.queue }),
      callback: (err: Error | null, msg: Msg) => {
        if (err !== null) {
          this.#handlers.onError(err, subject);
          return;
        }
        this.#handlers.call(handler, toBusMessage(msg), subject);
      },
    });
    this.#subs.add(sub);
    void sub.closed.then(
      () => this.#subs.delete(sub),
      () => this.#subs.delete(sub),
    );
    return {
      subject,
      unsubscribe: () => {
        if (!sub.isClosed()) sub.unsubscribe();
        this.#subs.delete(sub);
      },
    };
  }

  async request(subject: string, data: Uint8Array, opts: { timeoutMs: number; headers?: BusHeaders }): Promise<BusMessage> {
    this.#checkOpen();
    try {
      const answer = await this.connection.request(subject, data, {
        timeout: opts.timeoutMs,
        ...(opts.headers === undefined ? {} : { headers: toNatsHeaders(opts.headers) }),
      });
      return toBusMessage(answer);
    } catch (error) {
      throw translateRequestError(error, subject, opts.timeoutMs);
    }
  }

  async flush(): Promise<void> {
    this.#checkOpen();
    await this.connection.flush();
  }

  close(): Promise<void> {
    this.#closing ??= this.#drain();
    return this.#closing;
  }

  async #drain(): Promise<void> {
    if (this.connection.isClosed()) return;
    // Subscriptions first (messages already received still reach their handlers), then the
    // handlers' own promises, which may still publish, then the connection: pending publishes are
    // flushed and it closes.
    await Promise.allSettled([...this.#subs].map((s) => s.drain()));
    while (this.#handlers.size > 0) await this.#handlers.settled();
    if (!this.connection.isClosed() && !this.connection.isDraining()) await this.connection.drain();
  }

  #checkOpen(): void {
    if (this.connection.isClosed()) throw new BusClosedError();
  }
}

/** Connects to NATS (reconnecting forever) and wraps the connection in a `NatsBus`. */
export async function connectNatsBus(url: string, opts: ConnectNatsBusOptions = {}): Promise<NatsBus> {
  const nc = await connect({
    servers: url,
    maxReconnectAttempts: -1,
    reconnectTimeWait: opts.reconnectTimeWaitMs ?? 250,
    pingInterval: NATS_PING_INTERVAL_MS,
    maxPingOut: NATS_MAX_PINGS_OUT,
    // Without it every request (each JetStream publish, store call, forward) captures two stack
    // traces up front for errors that almost never happen: a measured ~13% of a gateway's CPU on
    // HTTP ingest. Timeouts and other request errors keep their type and message.
    noAsyncTraces: true,
    ...(opts.name === undefined ? {} : { name: opts.name }),
    ...natsSecurityOptions(opts.security ?? {}),
  });
  const onChange = opts.onConnectionChange;
  if (onChange !== undefined) {
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type === "disconnect" || s.type === "reconnect") onChange(s.type, s.server);
      }
    })();
  }
  return new NatsBus(nc, opts.onError === undefined ? {} : { onError: opts.onError });
}

function toBusMessage(msg: Msg): BusMessage {
  return {
    subject: msg.subject,
    data: msg.data,
    headers: receivedHeaders(msg),
    reply: msg.reply === undefined || msg.reply === "" ? null : msg.reply,
  };
}

function translateRequestError(error: unknown, subject: string, timeoutMs: number): Error {
  if (error instanceof natsErrors.TimeoutError) return new TimeoutError(subject, timeoutMs, { cause: error });
  if (error instanceof natsErrors.NoRespondersError) return new NoRespondersError(subject, { cause: error });
  if (error instanceof natsErrors.RequestError) {
    if (error.isNoResponders()) return new NoRespondersError(subject, { cause: error });
    if (error.cause instanceof natsErrors.TimeoutError) return new TimeoutError(subject, timeoutMs, { cause: error });
  }
  if (error instanceof natsErrors.ClosedConnectionError || error instanceof natsErrors.DrainingConnectionError) {
    return new BusClosedError({ cause: error });
  }
  return error instanceof Error ? error : new Error(String(error));
}

/**
 * A benchmark client process: holds up to ~15,000 WebSocket connections on raw TCP sockets, each
 * bound to one of the given 127.0.0.x source addresses, and counts what arrives with a few byte
 * checks per frame (no JSON.parse, no per-message events). Also the connect-storm driver.
 */
import type { Socket } from "node:net";
import * as hdr from "hdr-histogram-js";
import { SignJWT } from "jose";
import { childArgs, emit, serve } from "../proc.js";
import { subjectOf } from "./subjects.js";
import { UpgradeReader, connectUpgrade } from "./upgrade.js";
import {
  FrameReader,
  OPCODE_BINARY,
  OPCODE_CLOSE,
  OPCODE_PING,
  OPCODE_PONG,
  OPCODE_TEXT,
  classifySocketIo,
  clientFrame,
  CENTRIFUGO_CHANNEL,
  countCentrifugo,
  countJsonRecords,
  countMsgpackRecords,
  newCounts,
  type Counts,
  type Dialect,
} from "./frames.js";

export interface ClientArgs {
  /** index of this client process, for logs and token subjects */
  index: number;
  port: number;
}

export interface TokenSpec {
  secret: string;
  /** subjects are `${subPrefix}${client index}-${n}`, n counting this process's connections from 0 */
  subPrefix: string;
}

export interface OpenArgs {
  dialect: Dialect;
  count: number;
  /** source addresses, used round robin */
  addrs: string[];
  /** null: anonymous */
  token: TokenSpec | null;
  /** connection attempts in flight */
  concurrency: number;
  /** server ports, used round robin (default: the process's `port`) */
  ports?: number[];
  /** a refused TCP connect is tried again up to this many times, 250 ms apart (default 0) */
  retries?: number;
}

export interface OpenResult {
  opened: number;
  failed: number;
  errors: string[];
  /** connects tried again after ECONNREFUSED (counted per attempt) */
  retried: number;
  ms: number;
}

export interface Report {
  sockets: number;
  open: number;
  /** fewest / most notifications one open socket received since the last reset */
  min: number;
  max: number;
  notifications: number;
  pings: number;
  other: number;
  /** sockets that were closed by the server or the network, not by us */
  lost: number;
  /** the first few SignalR Close messages received (why the server closed) */
  closeReasons: string[];
  cpuUserUs: number;
  cpuSystemUs: number;
  rss: number;
}

/** What arrived since the last `reset`, for timing one broadcast across client processes. */
export interface Tally {
  open: number;
  notifications: number;
  /** open sockets that received fewer than `want` notifications (misses) and more (duplicates) */
  short: number;
  extra: number;
  /** wall-clock receipt times (`performance.timeOrigin + performance.now()`, ms) of the first and the last notification; 0: none */
  firstAt: number;
  lastAt: number;
}

export interface StormArgs {
  dialect: Dialect;
  durationMs: number;
  concurrency: number;
  addrs: string[];
  token: TokenSpec | null;
  /** distinct tokens minted up front and reused round robin */
  tokenPool: number;
}

export interface StormResult {
  completed: number;
  failed: number;
  errors: string[];
  ms: number;
  latencyUs: { p50: number; p90: number; p99: number; p999: number; max: number };
  cpuUserUs: number;
  cpuSystemUs: number;
}

const args = childArgs<ClientArgs>();
const PATHS: Record<Dialect, string> = {
  "signalr-json": "/notifications",
  "signalr-msgpack": "/notifications",
  socketio: "/socket.io/?EIO=4&transport=websocket",
  centrifugo: "/connection/websocket",
};
const HANDSHAKES: Record<Dialect, Buffer | null> = {
  "signalr-json": clientFrame(Buffer.from('{"protocol":"json","version":1}\x1e')),
  "signalr-msgpack": clientFrame(Buffer.from('{"protocol":"messagepack","version":1}\x1e')),
  socketio: null, // the server speaks first (Engine.IO open packet)
  centrifugo: clientFrame(Buffer.from('{"id":1,"connect":{}}')), // then subscribe once the connect reply is in
};
const CF_SUBSCRIBE = clientFrame(Buffer.from(`{"id":2,"subscribe":{"channel":"${CENTRIFUGO_CHANNEL}"}}`));
const CF_PONG = clientFrame(Buffer.from("{}"));
const SIO_CONNECT = clientFrame(Buffer.from("40"));
const SIO_PONG = clientFrame(Buffer.from("3"));

/** Totals of this process, kept alongside the per-connection counts so progress costs nothing. */
const totals: Counts = newCounts();
/** wall-clock receipt times of the first and the last notification since the last reset (0: none yet) */
let firstAt = 0;
let lastAt = 0;

function noteReceipt(): void {
  lastAt = performance.timeOrigin + performance.now();
  if (firstAt === 0) firstAt = lastAt;
}

const State = { Upgrading: 0, Handshaking: 1, Open: 2, Closed: 3 } as const;
type StateValue = (typeof State)[keyof typeof State];

class Conn {
  state: StateValue = State.Upgrading;
  /** reached the Open state at some point */
  everOpen = false;
  readonly counts = newCounts();
  readonly socket: Socket;
  readonly #reader = new FrameReader();
  readonly #upgrade = new UpgradeReader();
  closedByUs = false;
  /** when this client last sent a hub message (the handshake counts), for keep-alive pings */
  lastSentAt = 0;

  constructor(
    readonly dialect: Dialect,
    addr: string,
    port: number,
    token: string | null,
    private readonly onOpen: (c: Conn) => void,
    private readonly onFail: (c: Conn, why: string) => void,
    private readonly onClose: (c: Conn) => void,
  ) {
    const path = PATHS[dialect];
    const query = token === null ? "" : `${path.includes("?") ? "&" : "?"}access_token=${token}`;
    this.socket = connectUpgrade(port, addr, `${path}${query}`);
    this.socket.on("data", (chunk: Buffer) => this.#data(chunk));
    this.socket.on("error", (err) => this.#fail(err.message));
    this.socket.once("close", () => {
      if (this.state !== State.Open && this.state !== State.Closed) this.#fail("closed before the handshake completed");
      this.state = State.Closed;
      this.onClose(this);
    });
  }

  close(): void {
    this.closedByUs = true;
    this.socket.destroy();
  }

  #fail(why: string): void {
    if (this.state === State.Open || this.state === State.Closed) return;
    this.state = State.Closed;
    this.onFail(this, why);
    this.socket.destroy();
  }

  #data(chunk: Buffer): void {
    if (this.state === State.Upgrading) {
      const answer = this.#upgrade.push(chunk);
      if (answer === undefined) return;
      if (!answer.switched) return this.#fail(answer.status);
      this.state = State.Handshaking;
      const hs = HANDSHAKES[this.dialect];
      if (hs !== null) this.socket.write(hs);
      this.lastSentAt = performance.now();
      chunk = answer.rest;
      if (chunk.length === 0) return;
    }
    this.#reader.push(chunk, this.#frame);
  }

  readonly #frame = (opcode: number, buf: Buffer, start: number, end: number): void => {
    if (opcode === OPCODE_TEXT || opcode === OPCODE_BINARY) {
      if (this.dialect === "socketio") return this.#socketIo(buf, start, end);
      if (this.dialect === "centrifugo") return this.#centrifugo(buf, start, end);
      if (this.state === State.Handshaking) {
        // `{}\x1e`, the handshake response (an error would carry "error")
        if (end - start > 3) return this.#fail(`handshake refused: ${buf.toString("utf8", start, Math.min(end, start + 200))}`);
        this.state = State.Open;
        this.everOpen = true;
        return this.onOpen(this);
      }
      const c = this.counts;
      const n = c.notifications;
      const p = c.pings;
      const o = c.other;
      if (this.dialect === "signalr-json") {
        countJsonRecords(buf, start, end, c);
        // a SignalR Close message says why the server ends the connection
        // Searched within this frame only: `buf` is the whole read, and a search to its end for every frame
        // of a burst (250 frames per POST) cost this process ~30 µs per frame.
        if (closeReasons.size < 5 && buf.subarray(start, end).includes('"type":7'))
          closeReasons.add(buf.toString("utf8", start, Math.min(end, start + 200)));
      } else countMsgpackRecords(buf, start, end, c);
      if (c.notifications !== n) {
        totals.notifications += c.notifications - n;
        noteReceipt();
      }
      totals.pings += c.pings - p;
      totals.other += c.other - o;
    } else if (opcode === OPCODE_PING) {
      this.socket.write(clientFrame(Buffer.from(buf.subarray(start, end)), OPCODE_PONG));
    } else if (opcode === OPCODE_CLOSE) {
      if (this.state !== State.Open) this.#fail(`close frame during handshake: ${buf.toString("utf8", start + 2, end)}`);
      this.socket.end();
    }
  };

  #centrifugo(buf: Buffer, start: number, end: number): void {
    if (this.state === State.Handshaking) {
      // replies to connect (id 1) and subscribe (id 2); an error reply carries "error"
      const text = buf.toString("utf8", start, end);
      if (text.includes('"error"')) return this.#fail(`centrifugo refused: ${text.slice(0, 200)}`);
      if (text.includes('"id":1')) this.socket.write(CF_SUBSCRIBE);
      if (text.includes('"id":2')) {
        this.state = State.Open;
        this.everOpen = true;
        this.onOpen(this);
      }
      return;
    }
    const c = this.counts;
    const n = c.notifications;
    const p = c.pings;
    const o = c.other;
    const pings = countCentrifugo(buf, start, end, c);
    for (let i = 0; i < pings; i++) this.socket.write(CF_PONG);
    totals.notifications += c.notifications - n;
    totals.pings += c.pings - p;
    totals.other += c.other - o;
  }

  #socketIo(buf: Buffer, start: number, end: number): void {
    switch (classifySocketIo(buf, start, end)) {
      case "event":
        this.counts.notifications++;
        totals.notifications++;
        return;
      case "ping":
        this.counts.pings++;
        totals.pings++;
        this.socket.write(SIO_PONG);
        return;
      case "open":
        this.socket.write(SIO_CONNECT);
        return;
      case "connected":
        if (this.state === State.Handshaking) {
          this.state = State.Open;
          this.everOpen = true;
          this.onOpen(this);
        }
        return;
      default:
        this.counts.other++;
        totals.other++;
    }
  }
}

const conns: Conn[] = [];
let lost = 0;
/** the first few SignalR Close messages the server sent */
const closeReasons = new Set<string>();

async function mintTokens(spec: TokenSpec, from: number, count: number): Promise<string[]> {
  const key = new TextEncoder().encode(spec.secret);
  const now = Math.floor(Date.now() / 1000);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    out.push(
      await new SignJWT({ sub: subjectOf(spec, args.index, from + i) })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuedAt(now)
        .setExpirationTime(now + 3600)
        .sign(key),
    );
  }
  return out;
}

async function open(a: OpenArgs): Promise<OpenResult> {
  const started = performance.now();
  const tokens = a.token === null ? null : await mintTokens(a.token, conns.length, a.count);
  const errors = new Set<string>();
  let opened = 0;
  let failed = 0;
  let retried = 0;
  let launched = 0;
  let settled = 0;
  await new Promise<void>((resolve) => {
    const attempt = (i: number, tries: number) => {
      const conn = new Conn(
        a.dialect,
        a.addrs[i % a.addrs.length]!,
        a.ports === undefined ? args.port : a.ports[i % a.ports.length]!,
        tokens === null ? null : tokens[i]!,
        () => {
          opened++;
          settle();
        },
        (_c, why) => {
          if (why.includes("ECONNREFUSED") && tries < (a.retries ?? 0)) {
            retried++;
            setTimeout(() => attempt(i, tries + 1), 250);
            return;
          }
          failed++;
          if (errors.size < 5) errors.add(why);
          settle();
        },
        (c) => {
          if (c.everOpen && !c.closedByUs) lost++;
        },
      );
      conns.push(conn);
    };
    const launch = () => {
      while (launched < a.count && launched - settled < a.concurrency) attempt(launched++, 0);
    };
    const settle = () => {
      settled++;
      if (settled === a.count) resolve();
      else launch();
    };
    if (a.count === 0) resolve();
    else launch();
  });
  return { opened, failed, errors: [...errors], retried, ms: performance.now() - started };
}

function reset(): void {
  for (const c of conns) {
    c.counts.notifications = 0;
    c.counts.pings = 0;
    c.counts.other = 0;
  }
  totals.notifications = 0;
  totals.pings = 0;
  totals.other = 0;
  firstAt = 0;
  lastAt = 0;
}

function tally(want: number): Tally {
  let open = 0;
  let short = 0;
  let extra = 0;
  for (const c of conns) {
    if (c.state !== State.Open) continue;
    open++;
    if (c.counts.notifications < want) short++;
    else if (c.counts.notifications > want) extra++;
  }
  return { open, notifications: totals.notifications, short, extra, firstAt, lastAt };
}

const SIGNALR_PING = clientFrame(Buffer.from('{"type":6}\x1e'));
const KEEPALIVE_TICK_MS = 100;
let keepaliveTimer: NodeJS.Timeout | null = null;

/**
 * Sends a SignalR Ping on every open SignalR JSON connection that sent nothing for `intervalMs`, as
 * stock clients do, so idle connections outlive the server's client timeout. Checked by the clock
 * every tick, so a busy process (timers late) pings late, never skips a connection.
 */
function keepalive(intervalMs: number): void {
  if (keepaliveTimer !== null) clearInterval(keepaliveTimer);
  keepaliveTimer = setInterval(() => {
    const now = performance.now();
    for (const c of conns) {
      if (c.state === State.Open && c.dialect === "signalr-json" && now - c.lastSentAt >= intervalMs) {
        c.socket.write(SIGNALR_PING);
        c.lastSentAt = now;
      }
    }
  }, KEEPALIVE_TICK_MS);
}

let watcher: NodeJS.Timeout | null = null;
function watch(intervalMs: number): void {
  if (watcher !== null) clearInterval(watcher);
  let last = -1;
  watcher = setInterval(() => {
    if (totals.notifications !== last) {
      last = totals.notifications;
      emit("progress", last);
    }
  }, intervalMs);
}

function report(): Report {
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  let open = 0;
  for (const c of conns) {
    if (c.state !== State.Open) continue;
    open++;
    const n = c.counts.notifications;
    if (n < min) min = n;
    if (n > max) max = n;
  }
  const cpu = process.cpuUsage();
  return {
    sockets: conns.length,
    open,
    min: open === 0 ? 0 : min,
    max,
    notifications: totals.notifications,
    pings: totals.pings,
    other: totals.other,
    lost,
    closeReasons: [...closeReasons],
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rss: process.memoryUsage().rss,
  };
}

async function closeAll(): Promise<void> {
  if (keepaliveTimer !== null) clearInterval(keepaliveTimer);
  keepaliveTimer = null;
  const closing = conns.filter((c) => !c.socket.destroyed).map((c) => new Promise<void>((r) => c.socket.once("close", () => r())));
  for (const c of conns) c.close();
  await Promise.race([Promise.all(closing), new Promise((r) => setTimeout(r, 5000))]);
  conns.length = 0;
}

async function storm(a: StormArgs): Promise<StormResult> {
  const tokens = a.token === null ? null : await mintTokens(a.token, 0, a.tokenPool);
  const histogram = hdr.build({ lowestDiscernibleValue: 1, highestTrackableValue: 60_000_000, numberOfSignificantValueDigits: 3 });
  const errors = new Set<string>();
  const cpuFrom = process.cpuUsage();
  const started = performance.now();
  const deadline = started + a.durationMs;
  let completed = 0;
  let failed = 0;
  let inflight = 0;
  let n = 0;
  await new Promise<void>((resolve) => {
    const launch = () => {
      while (inflight < a.concurrency && performance.now() < deadline) {
        inflight++;
        const i = n++;
        const t0 = performance.now();
        new Conn(
          a.dialect,
          a.addrs[i % a.addrs.length]!,
          args.port,
          tokens === null ? null : tokens[i % tokens.length]!,
          (c) => {
            histogram.recordValue(Math.max(1, Math.round((performance.now() - t0) * 1000)));
            completed++;
            c.close();
          },
          (_c, why) => {
            failed++;
            if (errors.size < 5) errors.add(why);
          },
          () => {
            inflight--;
            if (performance.now() < deadline) launch();
            else if (inflight === 0) resolve();
          },
        );
      }
    };
    launch();
  });
  const cpu = process.cpuUsage(cpuFrom);
  const result: StormResult = {
    completed,
    failed,
    errors: [...errors],
    ms: performance.now() - started,
    latencyUs: {
      p50: histogram.getValueAtPercentile(50),
      p90: histogram.getValueAtPercentile(90),
      p99: histogram.getValueAtPercentile(99),
      p999: histogram.getValueAtPercentile(99.9),
      max: histogram.maxValue,
    },
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
  };
  histogram.destroy();
  return result;
}

serve({
  open: (a) => open(a as OpenArgs),
  reset: () => reset(),
  tally: (a) => tally((a as { want: number }).want),
  keepalive: (a) => keepalive((a as { intervalMs: number }).intervalMs),
  watch: (a) => watch((a as { intervalMs: number }).intervalMs),
  unwatch: () => {
    if (watcher !== null) clearInterval(watcher);
    watcher = null;
  },
  report: () => report(),
  closeAll: () => closeAll(),
  storm: (a) => storm(a as StormArgs),
});
emit("ready", { pid: process.pid });

import { randomBytes } from "node:crypto";
import { GLOBAL_AUDIENCE, looksLikeSharedAudienceKey, subjects, type Bus, type BusMessage, type BusSubscription } from "@tidings/contracts";
import { DigestAccumulator } from "./digest.js";
import { MISSED_HEARTBEATS, REGISTRY_HEARTBEAT_MS, silentRegistryLogger, type RegistryLogger } from "./log.js";
import { decodePageRequest, decodeRegistryAck, encodeJson, type SnapshotGone, type SnapshotPage } from "./wire.js";

/** Heartbeat intervals without a heartbeat that count as a stall (routers drop a node after MISSED_HEARTBEATS; timers and the bus add delay). */
const STALL_HEARTBEATS = MISSED_HEARTBEATS - 1;

export interface RegistryAnnouncerOptions {
  bus: Bus;
  /** This gateway node's id (`subjects.node(nodeId)` is where its notifications arrive). */
  nodeId: string;
  /** Time between heartbeats (default 5000 ms); routers drop a node after three missed ones. */
  heartbeatIntervalMs?: number;
  /**
   * Budget for one delta or snapshot page, in key bytes (default 256 KiB): keeps every message well
   * under the NATS payload limit (1 MiB by default), however many keys change at once.
   */
  maxMessageBytes?: number;
  /**
   * Longest wait of `acknowledged()` for the routers (default 2000 ms); after it the join completes
   * anyway and the routers learn it moments later, as they would without the wait.
   */
  ackTimeoutMs?: number;
  /** How long a paged snapshot stays frozen for its requester to fetch the remaining pages (default 30 000 ms). */
  snapshotTtlMs?: number;
  /** Node-message formats this node reads besides the notification's JSON, announced in heartbeats and snapshots (default none). */
  nodeMessages?: readonly string[];
  /**
   * Called with the time of the last heartbeat sent when the next one goes out more than two intervals
   * later (the process was frozen or its event loop blocked): routers may have dropped this node
   * meanwhile and routed its audiences to nobody (`rejoined()` tells when they route to it again).
   */
  onStalled?: (lastHeartbeatMs: number) => void;
  log?: RegistryLogger;
}

interface AckWaiter {
  readonly seq: number;
  /** Also wait for at least one router (a rejoin: routers forgotten during an outage answer again). */
  readonly needsRouter: boolean;
  readonly resolve: (acknowledged: boolean) => void;
  readonly timer: NodeJS.Timeout;
}

interface FrozenSnapshot {
  readonly seq: number;
  readonly digest: string;
  readonly pages: string[][];
  readonly timer: NodeJS.Timeout;
}

/**
 * The gateway side of the registry (docs/architecture.md §4). The gateway calls `add(key)`
 * when a local connection joins an audience and `remove(key)` when it leaves; the announcer
 * reference-counts them and publishes a delta only when a key gains its first local connection or
 * loses its last. Changes made in one event-loop turn go out as one delta (a key that joins and
 * leaves within the turn produces nothing). Each delta carries the next sequence number; a heartbeat
 * every `heartbeatIntervalMs` carries the last one and the digest of the announced set; snapshot
 * requests and router sync broadcasts are answered from the same announced set.
 *
 * Global and Connection audiences are ignored: routers resolve them without the registry.
 *
 * Routers acknowledge every delta and heartbeat once applied. The node learns the live routers from
 * those acknowledgements (one silent for three heartbeat intervals, or that said it left, is
 * forgotten), so `acknowledged()` can tell when every live router routes by the current membership.
 */
export class RegistryAnnouncer {
  readonly nodeId: string;
  readonly #bus: Bus;
  readonly #heartbeatIntervalMs: number;
  readonly #maxMessageBytes: number;
  readonly #snapshotTtlMs: number;
  /** `{nodeMessages}` as heartbeats and snapshot pages carry it; empty when the node announces none. */
  readonly #formats: { nodeMessages?: readonly string[] };
  readonly #log: RegistryLogger;
  readonly #onStalled: ((lastHeartbeatMs: number) => void) | undefined;
  /** When the last heartbeat was sent (epoch ms). */
  #lastHeartbeatMs = 0;
  /** Local connections per audience key. */
  readonly #counts = new Map<string, number>();
  /** The key set routers were told about (through deltas up to `#seq`). */
  readonly #announced = new Set<string>();
  readonly #digest = new DigestAccumulator();
  /** Keys whose membership may differ from the announced set. */
  readonly #dirty = new Set<string>();
  readonly #frozen = new Map<string, FrozenSnapshot>();
  readonly #ackTimeoutMs: number;
  /** Live routers → the last sequence number each acknowledged and when it was last heard. */
  readonly #routers = new Map<string, { seq: number; lastSeenMs: number }>();
  #waiters: AckWaiter[] = [];
  #subs: BusSubscription[] = [];
  #heartbeat: NodeJS.Timeout | null = null;
  #flushScheduled = false;
  /** Between `disconnected()` and `rejoined()`. */
  #deaf = false;
  #running = false;
  #seq = 0;

  constructor(opts: RegistryAnnouncerOptions) {
    this.nodeId = opts.nodeId;
    // Validates the node id as a subject token up front.
    subjects.registrySnapshot(opts.nodeId);
    this.#bus = opts.bus;
    this.#heartbeatIntervalMs = opts.heartbeatIntervalMs ?? REGISTRY_HEARTBEAT_MS;
    this.#maxMessageBytes = opts.maxMessageBytes ?? 256 * 1024;
    this.#snapshotTtlMs = opts.snapshotTtlMs ?? 30_000;
    this.#formats = opts.nodeMessages === undefined || opts.nodeMessages.length === 0 ? {} : { nodeMessages: opts.nodeMessages };
    this.#ackTimeoutMs = opts.ackTimeoutMs ?? 2000;
    this.#log = opts.log ?? silentRegistryLogger;
    this.#onStalled = opts.onStalled;
  }

  /** Sequence number of the last delta published (0 before the first). */
  get seq(): number {
    return this.#seq;
  }

  /** Digest of the announced key set, as heartbeats carry it. */
  digest(): string {
    return this.#digest.value();
  }

  /** Routers currently known to this node (heard from within three heartbeat intervals). */
  get routerCount(): number {
    return this.#routers.size;
  }

  /**
   * Announces pending changes now and resolves true once every live router has acknowledged them
   * (at once when there is nothing to wait for), or false after the ack timeout. A join made before
   * the call is then routed by every router for anything it takes from the ingest stream afterwards.
   */
  acknowledged(): Promise<boolean> {
    if (!this.#running) return Promise.resolve(true);
    this.flush();
    return this.#waitForAcks(this.#seq, false, this.#ackTimeoutMs);
  }

  /** The NATS connection is down: routers go unheard, so none is forgotten for silence until `rejoined()`. */
  disconnected(): void {
    this.#deaf = true;
  }

  /**
   * After this node could not be heard (its NATS connection was down, or it was frozen past
   * `onStalled`'s threshold) routers may have dropped it and routed its audiences to nobody. Sends a
   * heartbeat now (a router that dropped the node fetches its snapshot before acknowledging) and
   * resolves true once every router known before, and at least one, has acknowledged it; false after
   * three heartbeat intervals. Persisted notifications routed before that are in the store by then.
   */
  rejoined(): Promise<boolean> {
    if (!this.#running) return Promise.resolve(true);
    this.#deaf = false;
    const now = Date.now();
    for (const r of this.#routers.values()) {
      r.seq = -1;
      r.lastSeenMs = now;
    }
    this.#sendHeartbeat();
    return this.#waitForAcks(this.#seq, true, this.#heartbeatIntervalMs * MISSED_HEARTBEATS);
  }

  #waitForAcks(seq: number, needsRouter: boolean, timeoutMs: number): Promise<boolean> {
    if (this.#settled(seq, needsRouter)) return Promise.resolve(true);
    return new Promise((resolve) => {
      const waiter: AckWaiter = {
        seq,
        needsRouter,
        resolve,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          resolve(false);
        }, timeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Keys with at least one local connection (announced or about to be). */
  get size(): number {
    return this.#counts.size;
  }

  /** A local connection joined audience `key`. */
  add(key: string): void {
    if (!tracked(key)) return;
    const n = this.#counts.get(key) ?? 0;
    this.#counts.set(key, n + 1);
    if (n === 0) this.#markDirty(key);
  }

  /** A local connection left audience `key`; a remove without a matching add is ignored. */
  remove(key: string): void {
    if (!tracked(key)) return;
    const n = this.#counts.get(key);
    if (n === undefined) return;
    if (n > 1) {
      this.#counts.set(key, n - 1);
      return;
    }
    this.#counts.delete(key);
    this.#markDirty(key);
  }

  /**
   * Answers snapshot requests and sync broadcasts, announces the keys added so far and sends the
   * first heartbeat. Resolves when the subscriptions are active at the server.
   */
  async start(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    this.#subs = [
      this.#bus.subscribe(subjects.registrySnapshot(this.nodeId), (m) => this.#answerSnapshot(m)),
      this.#bus.subscribe(subjects.registrySync, () => this.#sendHeartbeat()),
      this.#bus.subscribe(subjects.registryAck(this.nodeId), (m) => this.#onAck(m.data)),
    ];
    await this.#bus.flush();
    this.#sendHeartbeat();
    this.#heartbeat = setInterval(() => this.#sendHeartbeat(), this.#heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** Publishes pending changes, then stops heartbeats and answers. Routers drop the node after three missed heartbeats. */
  async stop(): Promise<void> {
    if (!this.#running) return;
    this.flush();
    this.#running = false;
    if (this.#heartbeat !== null) clearInterval(this.#heartbeat);
    this.#heartbeat = null;
    for (const s of this.#subs) s.unsubscribe();
    this.#subs = [];
    for (const f of this.#frozen.values()) clearTimeout(f.timer);
    this.#frozen.clear();
    this.#routers.clear();
    this.#settleWaiters();
  }

  /** Publishes the pending changes now, as one or more deltas (each within the message budget). */
  flush(): void {
    if (!this.#running || this.#dirty.size === 0) return;
    let added: string[] = [];
    let removed: string[] = [];
    let bytes = 0;
    for (const key of this.#dirty) {
      const wanted = this.#counts.has(key);
      if (wanted === this.#announced.has(key)) continue;
      if (wanted) {
        this.#announced.add(key);
        this.#digest.add(key);
        added.push(key);
      } else {
        this.#announced.delete(key);
        this.#digest.remove(key);
        removed.push(key);
      }
      bytes += keyBytes(key);
      if (bytes >= this.#maxMessageBytes) {
        this.#publishDelta(added, removed);
        added = [];
        removed = [];
        bytes = 0;
      }
    }
    this.#dirty.clear();
    if (added.length > 0 || removed.length > 0) this.#publishDelta(added, removed);
  }

  #onAck(data: Uint8Array): void {
    const ack = decodeRegistryAck(data);
    if (ack === null) return;
    if (ack.kind === "router-gone") this.#routers.delete(ack.routerId);
    else this.#routers.set(ack.routerId, { seq: ack.seq, lastSeenMs: Date.now() });
    this.#settleWaiters();
  }

  #settled(seq: number, needsRouter: boolean): boolean {
    if (needsRouter && this.#routers.size === 0) return false;
    for (const r of this.#routers.values()) if (r.seq < seq) return false;
    return true;
  }

  /** Resolves every waiter whose sequence every live router has acknowledged (all of them once stopped). */
  #settleWaiters(): void {
    if (this.#waiters.length === 0) return;
    const waiting: AckWaiter[] = [];
    for (const w of this.#waiters) {
      if (this.#running && !this.#settled(w.seq, w.needsRouter)) {
        waiting.push(w);
        continue;
      }
      clearTimeout(w.timer);
      w.resolve(true);
    }
    this.#waiters = waiting;
  }

  /** Forgets routers silent for three heartbeat intervals (they acknowledge every heartbeat). */
  #forgetSilentRouters(): void {
    if (this.#deaf) return;
    const oldest = Date.now() - this.#heartbeatIntervalMs * MISSED_HEARTBEATS;
    let forgot = false;
    for (const [id, r] of this.#routers) {
      if (r.lastSeenMs < oldest) {
        this.#routers.delete(id);
        forgot = true;
      }
    }
    if (forgot) this.#settleWaiters();
  }

  #markDirty(key: string): void {
    this.#dirty.add(key);
    if (this.#flushScheduled || !this.#running) return;
    this.#flushScheduled = true;
    setImmediate(() => {
      this.#flushScheduled = false;
      this.flush();
    });
  }

  #publishDelta(added: string[], removed: string[]): void {
    // The sequence advances even if the publish fails: routers then see a gap (or a heartbeat
    // ahead of them) and fetch a snapshot, which is how a lost delta is repaired anyway.
    this.#seq++;
    try {
      this.#bus.publish(subjects.registryDelta, encodeJson({ kind: "delta", nodeId: this.nodeId, seq: this.#seq, added, removed }));
    } catch (error) {
      this.#log.warn({ err: error, seq: this.#seq }, "registry delta not published; routers will repair it from a snapshot");
    }
  }

  #sendHeartbeat(): void {
    if (!this.#running) return;
    const now = Date.now();
    const last = this.#lastHeartbeatMs;
    this.#lastHeartbeatMs = now;
    // Before routers silent since then are forgotten: they were silent because this node was.
    if (last !== 0 && now - last > this.#heartbeatIntervalMs * STALL_HEARTBEATS) this.#onStalled?.(last);
    this.#forgetSilentRouters();
    this.flush();
    try {
      this.#bus.publish(
        subjects.registryDelta,
        encodeJson({ kind: "heartbeat", nodeId: this.nodeId, seq: this.#seq, digest: this.#digest.value(), ...this.#formats }),
      );
    } catch (error) {
      this.#log.warn({ err: error }, "registry heartbeat not published");
    }
  }

  #answerSnapshot(msg: BusMessage): void {
    if (msg.reply === null) return;
    const request = decodePageRequest(msg.data);
    let answer: SnapshotPage | SnapshotGone;
    if (request === null) {
      this.flush();
      const pages = paginate(this.#announced, this.#maxMessageBytes);
      const seq = this.#seq;
      const digest = this.#digest.value();
      let token: string | null = null;
      if (pages.length > 1) {
        token = randomBytes(12).toString("base64url");
        const id = token;
        const timer = setTimeout(() => this.#frozen.delete(id), this.#snapshotTtlMs);
        timer.unref();
        this.#frozen.set(token, { seq, digest, pages, timer });
      }
      answer = {
        kind: "snapshot",
        nodeId: this.nodeId,
        seq,
        digest,
        keys: pages[0]!,
        part: 0,
        parts: pages.length,
        token,
        ...this.#formats,
      };
    } else {
      const frozen = this.#frozen.get(request.token);
      const keys = frozen?.pages[request.part];
      if (frozen === undefined || keys === undefined) {
        answer = { kind: "snapshot-gone", nodeId: this.nodeId };
      } else {
        answer = {
          kind: "snapshot",
          nodeId: this.nodeId,
          seq: frozen.seq,
          digest: frozen.digest,
          keys,
          part: request.part,
          parts: frozen.pages.length,
          token: request.token,
          ...this.#formats,
        };
        if (request.part === frozen.pages.length - 1) {
          clearTimeout(frozen.timer);
          this.#frozen.delete(request.token);
        }
      }
    }
    this.#bus.publish(msg.reply, encodeJson(answer));
  }
}

function tracked(key: string): boolean {
  return key !== GLOBAL_AUDIENCE && looksLikeSharedAudienceKey(key);
}

/** Upper bound of a key's size in JSON: UTF-8 bytes plus quotes and comma. */
function keyBytes(key: string): number {
  return key.length * 3 + 3;
}

function paginate(keys: Iterable<string>, budget: number): string[][] {
  const pages: string[][] = [[]];
  let bytes = 0;
  for (const key of keys) {
    const size = keyBytes(key);
    if (bytes + size > budget && pages[pages.length - 1]!.length > 0) {
      pages.push([]);
      bytes = 0;
    }
    pages[pages.length - 1]!.push(key);
    bytes += size;
  }
  return pages;
}

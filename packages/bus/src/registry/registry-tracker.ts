import { randomBytes } from "node:crypto";
import {
  subjects,
  type AudienceRegistry,
  type Bus,
  type BusSubscription,
  type RegistryDelta,
  type RegistrySnapshot,
} from "@tidings/contracts";
import { registryDigest } from "./digest.js";
import { MISSED_HEARTBEATS, REGISTRY_HEARTBEAT_MS, silentRegistryLogger, type RegistryLogger } from "./log.js";
import { decodeRegistryUpdate, decodeSnapshotAnswer, encodeJson, type RegistryAck } from "./wire.js";

export interface RegistryTrackerOptions {
  bus: Bus;
  registry: AudienceRegistry;
  /** The gateways' heartbeat interval (default 5000 ms); also how often silent nodes are looked for. */
  heartbeatIntervalMs?: number;
  /** Heartbeats a node may miss before it is dropped (default 3). */
  missedHeartbeats?: number;
  /**
   * After the sync broadcast at start, how long to collect the nodes' answering heartbeats before
   * the snapshots they trigger are awaited and the tracker reports ready (default 1000 ms).
   */
  syncWindowMs?: number;
  /** Timeout of one snapshot page request (default 5000 ms). */
  snapshotTimeoutMs?: number;
  /** Snapshot fetches running at once, so a router start does not stampede a large fleet (default 8). */
  snapshotConcurrency?: number;
  /** This router's id in its acknowledgements to the nodes (default: random). */
  routerId?: string;
  /** Clock (epoch ms); default `Date.now`. */
  now?: () => number;
  log?: RegistryLogger;
}

/** How a snapshot fetch ended. */
type FetchOutcome = { ok: true; snapshot: RegistrySnapshot } | { ok: false; gone: boolean; reason: string };

/**
 * The router side of the registry protocol (docs/architecture.md §4): keeps an
 * `AudienceRegistry` in step with the gateway nodes.
 *
 * - Deltas are applied in sequence. A gap, an unknown node, a heartbeat ahead of what was applied or
 *   a digest mismatch fetches that node's snapshot; deltas arriving meanwhile are buffered and
 *   replayed on top of it, so a busy node converges instead of needing snapshot after snapshot.
 * - A snapshot whose digest does not match its keys is refused. A node that has no responder for
 *   its snapshot subject is gone and is dropped at once; one that misses `missedHeartbeats`
 *   heartbeats is dropped by the periodic sweep.
 * - Every delta and heartbeat, once applied (for a node being re-synced: once its snapshot and the
 *   buffered deltas are), is acknowledged to its node on `tidings.v1.registry.ack.<nodeId>` with the
 *   node's sequence number now applied here; `stop()` tells every known node this router is gone. A
 *   node uses these to complete a join only when every live router routes by it.
 * - `start()` subscribes, broadcasts a sync request (every node answers with a heartbeat), and
 *   resolves once the snapshots that triggered are in: only then is the view complete enough to
 *   route by.
 */
export class RegistryTracker {
  readonly #bus: Bus;
  readonly #registry: AudienceRegistry;
  readonly #heartbeatIntervalMs: number;
  readonly #maxSilenceMs: number;
  readonly #syncWindowMs: number;
  readonly #snapshotTimeoutMs: number;
  readonly #concurrency: number;
  readonly #now: () => number;
  readonly #log: RegistryLogger;
  readonly #routerId: string;
  /** Nodes with a snapshot fetch queued or running → deltas received meanwhile. */
  readonly #syncing = new Map<string, RegistryDelta[]>();
  readonly #queue: string[] = [];
  readonly #fetches = new Set<Promise<void>>();
  #idleWaiters: Array<() => void> = [];
  #sub: BusSubscription | null = null;
  #sweep: NodeJS.Timeout | null = null;
  #ready = false;
  #stopped = false;
  #snapshotsFetched = 0;

  constructor(opts: RegistryTrackerOptions) {
    this.#bus = opts.bus;
    this.#registry = opts.registry;
    this.#heartbeatIntervalMs = opts.heartbeatIntervalMs ?? REGISTRY_HEARTBEAT_MS;
    this.#maxSilenceMs = this.#heartbeatIntervalMs * (opts.missedHeartbeats ?? MISSED_HEARTBEATS);
    this.#syncWindowMs = opts.syncWindowMs ?? 1000;
    this.#snapshotTimeoutMs = opts.snapshotTimeoutMs ?? 5000;
    this.#concurrency = Math.max(1, opts.snapshotConcurrency ?? 8);
    this.#now = opts.now ?? Date.now;
    this.#log = opts.log ?? silentRegistryLogger;
    this.#routerId = opts.routerId ?? randomBytes(9).toString("base64url");
  }

  /** True once the start-up sync has completed. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Snapshots applied since start (repairs included). */
  get snapshotsFetched(): number {
    return this.#snapshotsFetched;
  }

  /** Subscribes, learns every node (sync broadcast + snapshots), starts the silence sweep; resolves when ready. */
  async start(): Promise<void> {
    if (this.#sub !== null) return;
    this.#sub = this.#bus.subscribe(subjects.registryDelta, (m) => this.#onUpdate(m.data));
    await this.#bus.flush();
    this.#bus.publish(subjects.registrySync, new Uint8Array(0));
    await new Promise((r) => setTimeout(r, this.#syncWindowMs));
    await this.#idle();
    this.#sweep = setInterval(() => this.sweep(), this.#heartbeatIntervalMs);
    this.#sweep.unref();
    this.#ready = true;
    this.#log.info({ nodes: this.#registry.liveNodes().size, memberships: this.#registry.size() }, "registry synced");
  }

  /** Stops listening and sweeping; fetches already running finish (their results are discarded). */
  async stop(): Promise<void> {
    if (!this.#stopped && this.#sub !== null) {
      for (const nodeId of this.#registry.liveNodes()) this.#tell(nodeId, { kind: "router-gone", routerId: this.#routerId });
    }
    this.#stopped = true;
    this.#sub?.unsubscribe();
    this.#sub = null;
    if (this.#sweep !== null) clearInterval(this.#sweep);
    this.#sweep = null;
    this.#queue.length = 0;
    await Promise.allSettled([...this.#fetches]);
  }

  /** Drops nodes silent for longer than the allowed missed heartbeats; returns their ids. */
  sweep(): string[] {
    const dropped = this.#registry.dropSilent(this.#now(), this.#maxSilenceMs);
    for (const nodeId of dropped) this.#log.info({ nodeId }, "registry dropped a silent node");
    return dropped;
  }

  #onUpdate(data: Uint8Array): void {
    if (this.#stopped) return;
    const update = decodeRegistryUpdate(data);
    if (update === null) {
      this.#log.debug({ bytes: data.length }, "registry ignored a malformed update");
      return;
    }
    const pending = this.#syncing.get(update.nodeId);
    if (update.kind === "delta") {
      if (pending !== undefined) {
        pending.push(update);
        return;
      }
      if (this.#registry.applyDelta(update) === "needs-snapshot") this.#requestSnapshot(update.nodeId, "delta out of sequence");
      else this.#ack(update.nodeId, update.seq);
      return;
    }
    // While its snapshot is being fetched a node's heartbeats say nothing new.
    if (pending !== undefined) return;
    if (this.#registry.applyHeartbeat(update, this.#now()) === "needs-snapshot") {
      this.#requestSnapshot(update.nodeId, "heartbeat disagrees");
    } else {
      this.#ack(update.nodeId, update.seq);
    }
  }

  #ack(nodeId: string, seq: number): void {
    this.#tell(nodeId, { kind: "ack", routerId: this.#routerId, seq });
  }

  #tell(nodeId: string, message: RegistryAck): void {
    try {
      this.#bus.publish(subjects.registryAck(nodeId), encodeJson(message));
    } catch (error) {
      // The node then waits out its bounded ack wait; the next heartbeat's ack catches up.
      this.#log.warn({ err: error, nodeId }, "registry acknowledgement not published");
    }
  }

  #requestSnapshot(nodeId: string, reason: string): void {
    if (this.#syncing.has(nodeId) || this.#stopped) return;
    this.#log.debug({ nodeId, reason }, "registry fetching a snapshot");
    this.#syncing.set(nodeId, []);
    this.#queue.push(nodeId);
    this.#pump();
  }

  #pump(): void {
    while (this.#fetches.size < this.#concurrency && this.#queue.length > 0) {
      const nodeId = this.#queue.shift()!;
      const task = this.#resync(nodeId);
      this.#fetches.add(task);
      void task.finally(() => {
        this.#fetches.delete(task);
        this.#pump();
        if (this.#fetches.size === 0 && this.#queue.length === 0) {
          const waiters = this.#idleWaiters;
          this.#idleWaiters = [];
          for (const w of waiters) w();
        }
      });
    }
  }

  #idle(): Promise<void> {
    if (this.#fetches.size === 0 && this.#queue.length === 0) return Promise.resolve();
    return new Promise((r) => this.#idleWaiters.push(r));
  }

  async #resync(nodeId: string): Promise<void> {
    const outcome = await this.#fetchSnapshot(nodeId);
    const buffered = this.#syncing.get(nodeId) ?? [];
    this.#syncing.delete(nodeId);
    if (this.#stopped) return;
    if (!outcome.ok) {
      if (outcome.gone) {
        this.#registry.dropNode(nodeId);
        this.#log.info({ nodeId, reason: outcome.reason }, "registry dropped a node that no longer answers");
      } else {
        // The old view (if any) stays; the node's next heartbeat asks again.
        this.#log.warn({ nodeId, reason: outcome.reason }, "registry snapshot failed");
      }
      return;
    }
    if (this.#registry.applySnapshot(outcome.snapshot) === "stale") {
      // Older than what was applied: the node restarted under the same id and counts from 1 again.
      this.#registry.dropNode(nodeId);
      this.#registry.applySnapshot(outcome.snapshot);
    }
    this.#snapshotsFetched++;
    buffered.sort((a, b) => a.seq - b.seq);
    let applied = outcome.snapshot.seq;
    for (const d of buffered) {
      if (this.#registry.applyDelta(d) === "needs-snapshot") {
        this.#requestSnapshot(nodeId, "gap after snapshot");
        return;
      }
      applied = Math.max(applied, d.seq);
    }
    this.#ack(nodeId, applied);
  }

  async #fetchSnapshot(nodeId: string): Promise<FetchOutcome> {
    const subject = subjects.registrySnapshot(nodeId);
    const keys: string[] = [];
    let first: { seq: number; digest: string; parts: number; token: string | null; nodeMessages?: readonly string[] } | null = null;
    for (let part = 0; first === null || part < first.parts; part++) {
      const body = first === null ? new Uint8Array(0) : encodeJson({ token: first.token, part });
      let data: Uint8Array;
      try {
        data = (await this.#bus.request(subject, body, { timeoutMs: this.#snapshotTimeoutMs })).data;
      } catch (error) {
        const name = (error as Error).name;
        return { ok: false, gone: name === "NoRespondersError", reason: `${name}: ${(error as Error).message}` };
      }
      const page = decodeSnapshotAnswer(data);
      if (page === null || page.nodeId !== nodeId) return { ok: false, gone: false, reason: "malformed snapshot" };
      if (page.kind === "snapshot-gone") return { ok: false, gone: false, reason: "snapshot expired between pages" };
      if (page.part !== part || (first !== null && (page.seq !== first.seq || page.token !== first.token))) {
        return { ok: false, gone: false, reason: "snapshot pages do not belong together" };
      }
      first ??= { seq: page.seq, digest: page.digest, parts: page.parts, token: page.token, ...formatsOf(page) };
      for (const k of page.keys) keys.push(k);
    }
    if (registryDigest(keys) !== first.digest) return { ok: false, gone: false, reason: "snapshot digest mismatch" };
    return { ok: true, snapshot: { kind: "snapshot", nodeId, seq: first.seq, keys, digest: first.digest, ...formatsOf(first) } };
  }
}

/** The node-message formats a snapshot page announced, as an optional property. */
function formatsOf(s: { nodeMessages?: readonly string[] }): { nodeMessages?: readonly string[] } {
  return s.nodeMessages === undefined ? {} : { nodeMessages: s.nodeMessages };
}

import {
  GLOBAL_AUDIENCE,
  type AudienceRegistry,
  type RegistryApplyResult,
  type RegistryDelta,
  type RegistryHeartbeat,
  type RegistrySnapshot,
} from "@tidings/contracts";
import { DigestAccumulator } from "../registry/digest.js";
import { partitionOf } from "./shard-map.js";

interface NodeState {
  seq: number;
  /** The node's keys in the owned partitions only. */
  readonly keys: Set<string>;
  /** Digest of the node's whole key set (every partition), kept from its deltas, to check its heartbeats. */
  digest: DigestAccumulator;
  lastSeenMs: number;
  /** Ownership epoch of the last snapshot applied; below the current epoch the node lacks newly owned partitions. */
  loadedEpoch: number;
  /** `{nodeId}`, shared by every key this node alone holds (never mutated). */
  readonly alone: ReadonlySet<string>;
}

export interface ShardedAudienceRegistryOptions {
  /** Registry partitions (TIDINGS_REGISTRY_PARTITIONS). */
  partitions: number;
  /** Partitions owned from the start (default: none). */
  owned?: Iterable<number>;
  now?: () => number;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * An `AudienceRegistry` holding only the keys of the partitions this router owns. Every delta,
 * heartbeat and snapshot of every node still passes through it (the filtering happens here, at the
 * router): sequence numbers and the digest of each node's whole key set are kept for every node, so
 * the repair protocol works unchanged, but only owned keys are stored.
 *
 * Gaining partitions (`own`) starts a new epoch: every node's heartbeat then asks for a snapshot
 * until one taken after the gain is applied, and `missing()` lists the nodes still owed one. Losing
 * partitions drops their keys at once.
 */
export class ShardedAudienceRegistry implements AudienceRegistry {
  readonly partitions: number;
  readonly #owned: Uint8Array;
  readonly #byKey = new Map<string, ReadonlySet<string>>();
  readonly #nodes = new Map<string, NodeState>();
  readonly #live = new Set<string>();
  readonly #now: () => number;
  #epoch = 0;
  #memberships = 0;

  constructor(opts: ShardedAudienceRegistryOptions) {
    this.partitions = opts.partitions;
    this.#owned = new Uint8Array(opts.partitions);
    for (const p of opts.owned ?? []) this.#owned[p] = 1;
    this.#now = opts.now ?? Date.now;
  }

  /** True when `key`'s partition is owned here. */
  owns(key: string): boolean {
    return this.#owned[partitionOf(key, this.partitions)] === 1;
  }

  /** The owned partitions, ascending. */
  owned(): number[] {
    const out: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.#owned[p] === 1) out.push(p);
    return out;
  }

  /**
   * Makes `partitions` the owned set. Keys of released partitions are dropped now; when any
   * partition is gained, every node owes a snapshot (see `missing()`). Returns the gained ones.
   */
  own(partitions: Iterable<number>): number[] {
    const next = new Uint8Array(this.partitions);
    for (const p of partitions) next[p] = 1;
    const gained: number[] = [];
    let released = false;
    for (let p = 0; p < this.partitions; p++) {
      if (next[p] === 1 && this.#owned[p] === 0) gained.push(p);
      if (next[p] === 0 && this.#owned[p] === 1) released = true;
    }
    this.#owned.set(next);
    if (released) {
      for (const [nodeId, node] of this.#nodes) {
        for (const key of node.keys) if (!this.owns(key)) this.#leave(node, nodeId, key);
      }
    }
    if (gained.length > 0) this.#epoch++;
    return gained;
  }

  /** Live nodes that have not sent a snapshot since the last partition gain. */
  missing(): string[] {
    const out: string[] = [];
    for (const [id, node] of this.#nodes) if (node.loadedEpoch < this.#epoch) out.push(id);
    return out;
  }

  applyDelta(d: RegistryDelta): RegistryApplyResult {
    const node = this.#nodes.get(d.nodeId);
    if (node === undefined) return "needs-snapshot";
    if (d.seq <= node.seq) return "stale";
    if (d.seq !== node.seq + 1) return "needs-snapshot";
    for (const key of d.added) {
      node.digest.add(key);
      if (this.owns(key)) this.#join(node, d.nodeId, key);
    }
    for (const key of d.removed) {
      node.digest.remove(key);
      if (this.owns(key)) this.#leave(node, d.nodeId, key);
    }
    node.seq = d.seq;
    return "applied";
  }

  applySnapshot(s: RegistrySnapshot): RegistryApplyResult {
    let node = this.#nodes.get(s.nodeId);
    if (node !== undefined && s.seq < node.seq) return "stale";
    if (node === undefined) {
      node = { seq: s.seq, keys: new Set(), digest: new DigestAccumulator(), lastSeenMs: 0, loadedEpoch: 0, alone: new Set([s.nodeId]) };
      this.#nodes.set(s.nodeId, node);
      this.#live.add(s.nodeId);
    }
    const digest = new DigestAccumulator();
    const owned: string[] = [];
    for (const key of s.keys) {
      digest.add(key);
      if (this.owns(key)) owned.push(key);
    }
    if (node.keys.size > 0) {
      const next = new Set(owned);
      for (const key of node.keys) if (!next.has(key)) this.#leave(node, s.nodeId, key);
    }
    for (const key of owned) this.#join(node, s.nodeId, key);
    node.digest = digest;
    node.seq = s.seq;
    node.lastSeenMs = this.#now();
    node.loadedEpoch = this.#epoch;
    return "applied";
  }

  applyHeartbeat(h: RegistryHeartbeat, nowMs: number): RegistryApplyResult {
    const node = this.#nodes.get(h.nodeId);
    if (node === undefined) return "needs-snapshot";
    node.lastSeenMs = nowMs;
    if (node.loadedEpoch < this.#epoch) return "needs-snapshot";
    if (h.seq !== node.seq || h.digest !== node.digest.value()) return "needs-snapshot";
    return "applied";
  }

  nodesFor(key: string): ReadonlySet<string> {
    if (key === GLOBAL_AUDIENCE) return this.#live;
    return this.#byKey.get(key) ?? EMPTY;
  }

  liveNodes(): ReadonlySet<string> {
    return this.#live;
  }

  dropNode(nodeId: string): void {
    const node = this.#nodes.get(nodeId);
    if (node === undefined) return;
    for (const key of node.keys) this.#unlink(nodeId, key);
    this.#memberships -= node.keys.size;
    this.#nodes.delete(nodeId);
    this.#live.delete(nodeId);
  }

  dropSilent(nowMs: number, maxSilenceMs: number): string[] {
    const dropped: string[] = [];
    for (const [id, node] of this.#nodes) if (nowMs - node.lastSeenMs > maxSilenceMs) dropped.push(id);
    for (const id of dropped) this.dropNode(id);
    return dropped;
  }

  size(): number {
    return this.#memberships;
  }

  /** Distinct owned audience keys held by at least one node. */
  keyCount(): number {
    return this.#byKey.size;
  }

  #join(node: NodeState, nodeId: string, key: string): void {
    if (node.keys.has(key)) return;
    node.keys.add(key);
    this.#memberships++;
    const current = this.#byKey.get(key);
    if (current === undefined) {
      this.#byKey.set(key, node.alone);
    } else if (current.size === 1) {
      // A one-element entry is always some node's shared `alone` set, never mutated.
      const [other] = current;
      this.#byKey.set(key, new Set([other!, nodeId]));
    } else {
      (current as Set<string>).add(nodeId);
    }
  }

  #leave(node: NodeState, nodeId: string, key: string): void {
    if (!node.keys.delete(key)) return;
    this.#memberships--;
    this.#unlink(nodeId, key);
  }

  #unlink(nodeId: string, key: string): void {
    const current = this.#byKey.get(key);
    if (current === undefined) return;
    if (current.size === 1) {
      if (current.has(nodeId)) this.#byKey.delete(key);
      return;
    }
    const own = current as Set<string>;
    own.delete(nodeId);
    if (own.size === 1) {
      const [rest] = own;
      this.#byKey.set(key, this.#nodes.get(rest!)!.alone);
    }
  }
}

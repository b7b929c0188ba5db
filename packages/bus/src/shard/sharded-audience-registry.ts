import type { AudienceRegistry, RegistryApplyResult, RegistryDelta, RegistrySnapshot } from "@tidings/contracts";
import { DigestAccumulator } from "../registry/digest.js";
import { NodeBook, type BookNode } from "../registry/node-book.js";
import { partitionOf } from "./shard-map.js";

/** `keys` holds the owned partitions' keys only; `digest` covers every partition, kept from the node's deltas. */
interface NodeState extends BookNode {
  /** Ownership epoch of the last snapshot applied; below the current epoch the node lacks newly owned partitions. */
  loadedEpoch: number;
}

export interface ShardedAudienceRegistryOptions {
  /** Registry partitions (TIDINGS_REGISTRY_PARTITIONS). */
  partitions: number;
  /** Partitions owned from the start (default: none). */
  owned?: Iterable<number>;
  now?: () => number;
}

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
export class ShardedAudienceRegistry extends NodeBook<NodeState> implements AudienceRegistry {
  readonly partitions: number;
  readonly #owned: Uint8Array;
  readonly #now: () => number;
  #epoch = 0;

  constructor(opts: ShardedAudienceRegistryOptions) {
    super();
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
      for (const [nodeId, node] of this.nodes) {
        for (const key of node.keys) if (!this.owns(key)) this.leave(node, nodeId, key);
      }
    }
    if (gained.length > 0) this.#epoch++;
    return gained;
  }

  /** Live nodes that have not sent a snapshot since the last partition gain. */
  missing(): string[] {
    const out: string[] = [];
    for (const [id, node] of this.nodes) if (node.loadedEpoch < this.#epoch) out.push(id);
    return out;
  }

  applyDelta(d: RegistryDelta): RegistryApplyResult {
    const node = this.deltaTarget(d);
    if (typeof node === "string") return node;
    for (const key of d.added) {
      node.digest.add(key);
      if (this.owns(key)) this.join(node, d.nodeId, key);
    }
    for (const key of d.removed) {
      node.digest.remove(key);
      if (this.owns(key)) this.leave(node, d.nodeId, key);
    }
    node.seq = d.seq;
    return "applied";
  }

  applySnapshot(s: RegistrySnapshot): RegistryApplyResult {
    const node = this.snapshotTarget(s, (alone) => ({
      seq: s.seq,
      keys: new Set(),
      digest: new DigestAccumulator(),
      lastSeenMs: 0,
      loadedEpoch: 0,
      alone,
    }));
    if (node === "stale") return node;
    const digest = new DigestAccumulator();
    const owned: string[] = [];
    for (const key of s.keys) {
      digest.add(key);
      if (this.owns(key)) owned.push(key);
    }
    this.replaceKeys(node, s.nodeId, owned);
    node.digest = digest;
    node.seq = s.seq;
    node.lastSeenMs = this.#now();
    node.loadedEpoch = this.#epoch;
    return "applied";
  }

  /** After a partition gain, every node owes a snapshot taken since. */
  protected override owesSnapshot(node: NodeState): boolean {
    return node.loadedEpoch < this.#epoch;
  }
}

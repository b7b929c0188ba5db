import {
  GLOBAL_AUDIENCE,
  type AudienceRegistry,
  type RegistryApplyResult,
  type RegistryDelta,
  type RegistryHeartbeat,
  type RegistrySnapshot,
} from "@tidings/contracts";
import { DigestAccumulator } from "./digest.js";

interface NodeState {
  seq: number;
  keys: Set<string>;
  readonly digest: DigestAccumulator;
  lastSeenMs: number;
  /** `{nodeId}`, shared by every key this node alone holds (never mutated). */
  readonly alone: ReadonlySet<string>;
}

export interface MemoryAudienceRegistryOptions {
  /** Clock for the liveness a snapshot records (epoch ms); default `Date.now`. */
  now?: () => number;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The router's `audienceKey → nodes` map (docs/architecture.md §4), in memory.
 *
 * Memory is the budget at a million keys, so a key held by one node — most keys: a user is usually
 * connected to one node — maps to that node's shared one-element set instead of a set of its own;
 * only keys on two or more nodes get their own set. Per node it keeps the key set (for drops and
 * snapshot diffs), the last applied sequence number and a running digest, so a heartbeat is checked
 * in O(1).
 */
export class MemoryAudienceRegistry implements AudienceRegistry {
  readonly #byKey = new Map<string, ReadonlySet<string>>();
  readonly #nodes = new Map<string, NodeState>();
  readonly #live = new Set<string>();
  readonly #now: () => number;
  #memberships = 0;

  constructor(opts: MemoryAudienceRegistryOptions = {}) {
    this.#now = opts.now ?? Date.now;
  }

  applyDelta(d: RegistryDelta): RegistryApplyResult {
    const node = this.#nodes.get(d.nodeId);
    if (node === undefined) return "needs-snapshot";
    if (d.seq <= node.seq) return "stale";
    if (d.seq !== node.seq + 1) return "needs-snapshot";
    for (const key of d.added) this.#join(node, d.nodeId, key);
    for (const key of d.removed) this.#leave(node, d.nodeId, key);
    node.seq = d.seq;
    return "applied";
  }

  applySnapshot(s: RegistrySnapshot): RegistryApplyResult {
    let node = this.#nodes.get(s.nodeId);
    if (node !== undefined && s.seq < node.seq) return "stale";
    if (node === undefined) {
      node = { seq: s.seq, keys: new Set(), digest: new DigestAccumulator(), lastSeenMs: 0, alone: new Set([s.nodeId]) };
      this.#nodes.set(s.nodeId, node);
      this.#live.add(s.nodeId);
    }
    if (node.keys.size > 0) {
      const next = new Set(s.keys);
      for (const key of node.keys) if (!next.has(key)) this.#leave(node, s.nodeId, key);
    }
    for (const key of s.keys) this.#join(node, s.nodeId, key);
    node.seq = s.seq;
    node.lastSeenMs = this.#now();
    return "applied";
  }

  /**
   * Also `needs-snapshot` when the heartbeat's `seq` is behind the last applied one: deltas from one
   * node arrive in order, so that only happens when the node restarted under the same id.
   */
  applyHeartbeat(h: RegistryHeartbeat, nowMs: number): RegistryApplyResult {
    const node = this.#nodes.get(h.nodeId);
    if (node === undefined) return "needs-snapshot";
    node.lastSeenMs = nowMs;
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

  /** Distinct audience keys held by at least one node. */
  keyCount(): number {
    return this.#byKey.size;
  }

  /** The node's last applied sequence number, or undefined when the node is unknown. */
  seqOf(nodeId: string): number | undefined {
    return this.#nodes.get(nodeId)?.seq;
  }

  #join(node: NodeState, nodeId: string, key: string): void {
    if (node.keys.has(key)) return;
    node.keys.add(key);
    node.digest.add(key);
    this.#memberships++;
    const current = this.#byKey.get(key);
    if (current === undefined) {
      this.#byKey.set(key, node.alone);
    } else if (current.size === 1) {
      // Invariant: a one-element entry is always some node's shared `alone` set, never mutated.
      const [other] = current;
      this.#byKey.set(key, new Set([other!, nodeId]));
    } else {
      (current as Set<string>).add(nodeId);
    }
  }

  #leave(node: NodeState, nodeId: string, key: string): void {
    if (!node.keys.delete(key)) return;
    node.digest.remove(key);
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

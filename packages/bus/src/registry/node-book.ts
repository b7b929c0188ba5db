import {
  FRAMED_NODE_MESSAGES,
  GLOBAL_AUDIENCE,
  type RegistryApplyResult,
  type RegistryDelta,
  type RegistryHeartbeat,
  type RegistrySnapshot,
} from "@tidings/contracts";
import type { DigestAccumulator } from "./digest.js";

/** What a registry keeps per gateway node; registries add their own fields. */
export interface BookNode {
  /** Last applied delta or snapshot sequence number. */
  seq: number;
  /** The node's keys held in this registry. */
  readonly keys: Set<string>;
  /** Digest of the node's whole key set, checked against its heartbeats. */
  digest: DigestAccumulator;
  lastSeenMs: number;
  /** `{nodeId}`, shared by every key this node alone holds (never mutated). */
  readonly alone: ReadonlySet<string>;
}

const EMPTY: ReadonlySet<string> = new Set();

/**
 * The node bookkeeping every `AudienceRegistry` shares: the `audienceKey → nodes` map, the live
 * node set, per-node key sets and the membership count, with the lookups and drops built on them.
 * Subclasses decide which keys a node holds here and keep its digest.
 *
 * Memory is the budget at a million keys, so a key held by one node — most keys: a user is usually
 * connected to one node — maps to that node's shared one-element set instead of a set of its own;
 * only keys on two or more nodes get their own set. It is a base class rather than a member so that
 * `nodesFor`, the router's per-notification lookup, stays one map read with no delegation.
 */
export abstract class NodeBook<N extends BookNode> {
  protected readonly nodes = new Map<string, N>();
  readonly #byKey = new Map<string, ReadonlySet<string>>();
  readonly #live = new Set<string>();
  readonly #framed = new Set<string>();
  #memberships = 0;

  /**
   * Also `needs-snapshot` when the heartbeat's `seq` is behind the last applied one: deltas from one
   * node arrive in order, so that only happens when the node restarted under the same id.
   */
  applyHeartbeat(h: RegistryHeartbeat, nowMs: number): RegistryApplyResult {
    const node = this.nodes.get(h.nodeId);
    if (node === undefined) return "needs-snapshot";
    node.lastSeenMs = nowMs;
    this.#noteFormats(h.nodeId, h.nodeMessages);
    if (this.owesSnapshot(node) || h.seq !== node.seq || h.digest !== node.digest.value()) return "needs-snapshot";
    return "applied";
  }

  nodesFor(key: string): ReadonlySet<string> {
    if (key === GLOBAL_AUDIENCE) return this.#live;
    return this.#byKey.get(key) ?? EMPTY;
  }

  liveNodes(): ReadonlySet<string> {
    return this.#live;
  }

  framedNodes(): ReadonlySet<string> {
    return this.#framed;
  }

  /** What the node's latest heartbeat or snapshot announced (a node restarted on an older version announces nothing). */
  #noteFormats(nodeId: string, nodeMessages: readonly string[] | undefined): void {
    if (nodeMessages?.includes(FRAMED_NODE_MESSAGES) === true) this.#framed.add(nodeId);
    else this.#framed.delete(nodeId);
  }

  dropNode(nodeId: string): void {
    const node = this.nodes.get(nodeId);
    if (node === undefined) return;
    for (const key of node.keys) this.#unlink(nodeId, key);
    this.#memberships -= node.keys.size;
    this.nodes.delete(nodeId);
    this.#live.delete(nodeId);
    this.#framed.delete(nodeId);
  }

  dropSilent(nowMs: number, maxSilenceMs: number): string[] {
    const dropped: string[] = [];
    for (const [id, node] of this.nodes) if (nowMs - node.lastSeenMs > maxSilenceMs) dropped.push(id);
    for (const id of dropped) this.dropNode(id);
    return dropped;
  }

  size(): number {
    return this.#memberships;
  }

  /** Distinct audience keys held here by at least one node. */
  keyCount(): number {
    return this.#byKey.size;
  }

  /** True when the node must send a snapshot whatever its heartbeat says. */
  protected owesSnapshot(_node: N): boolean {
    return false;
  }

  /** The node a delta applies to, or why it does not apply: unknown node or gap → snapshot; old `seq` → stale. */
  protected deltaTarget(d: RegistryDelta): N | RegistryApplyResult {
    const node = this.nodes.get(d.nodeId);
    if (node === undefined) return "needs-snapshot";
    if (d.seq <= node.seq) return "stale";
    if (d.seq !== node.seq + 1) return "needs-snapshot";
    return node;
  }

  /**
   * The node a snapshot replaces, registered as live (built by `create` when unknown), or `stale`
   * when the snapshot's `seq` is below the last applied one.
   */
  protected snapshotTarget(s: RegistrySnapshot, create: (alone: ReadonlySet<string>) => N): N | "stale" {
    const node = this.nodes.get(s.nodeId);
    if (node !== undefined && s.seq < node.seq) return "stale";
    this.#noteFormats(s.nodeId, s.nodeMessages);
    if (node !== undefined) return node;
    const created = create(new Set([s.nodeId]));
    this.nodes.set(s.nodeId, created);
    this.#live.add(s.nodeId);
    return created;
  }

  /** Makes `keys` the node's whole key set here. */
  protected replaceKeys(node: N, nodeId: string, keys: readonly string[]): void {
    if (node.keys.size > 0) {
      const next = new Set(keys);
      for (const key of node.keys) if (!next.has(key)) this.leave(node, nodeId, key);
    }
    for (const key of keys) this.join(node, nodeId, key);
  }

  /** Adds `key` to the node; false when it already held it. */
  protected join(node: N, nodeId: string, key: string): boolean {
    if (node.keys.has(key)) return false;
    node.keys.add(key);
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
    return true;
  }

  /** Removes `key` from the node; false when it did not hold it. */
  protected leave(node: N, nodeId: string, key: string): boolean {
    if (!node.keys.delete(key)) return false;
    this.#memberships--;
    this.#unlink(nodeId, key);
    return true;
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
      this.#byKey.set(key, this.nodes.get(rest!)!.alone);
    }
  }
}

import type { AudienceRegistry, RegistryApplyResult, RegistryDelta, RegistrySnapshot } from "@tidings/contracts";
import { DigestAccumulator } from "./digest.js";
import { NodeBook, type BookNode } from "./node-book.js";

export interface MemoryAudienceRegistryOptions {
  /** Clock for the liveness a snapshot records (epoch ms); default `Date.now`. */
  now?: () => number;
}

/**
 * The router's `audienceKey → nodes` map (docs/architecture.md §4), in memory, holding every key.
 * Per node it keeps the key set (for drops and snapshot diffs), the last applied sequence number and
 * a running digest (kept as keys join and leave), so a heartbeat is checked in O(1).
 */
export class MemoryAudienceRegistry extends NodeBook<BookNode> implements AudienceRegistry {
  readonly #now: () => number;

  constructor(opts: MemoryAudienceRegistryOptions = {}) {
    super();
    this.#now = opts.now ?? Date.now;
  }

  applyDelta(d: RegistryDelta): RegistryApplyResult {
    const node = this.deltaTarget(d);
    if (typeof node === "string") return node;
    for (const key of d.added) this.join(node, d.nodeId, key);
    for (const key of d.removed) this.leave(node, d.nodeId, key);
    node.seq = d.seq;
    return "applied";
  }

  applySnapshot(s: RegistrySnapshot): RegistryApplyResult {
    const node = this.snapshotTarget(s, (alone) => ({
      seq: s.seq,
      keys: new Set(),
      digest: new DigestAccumulator(),
      lastSeenMs: 0,
      alone,
    }));
    if (node === "stale") return node;
    this.replaceKeys(node, s.nodeId, s.keys);
    node.seq = s.seq;
    node.lastSeenMs = this.#now();
    return "applied";
  }

  protected override join(node: BookNode, nodeId: string, key: string): boolean {
    if (!super.join(node, nodeId, key)) return false;
    node.digest.add(key);
    return true;
  }

  protected override leave(node: BookNode, nodeId: string, key: string): boolean {
    if (!super.leave(node, nodeId, key)) return false;
    node.digest.remove(key);
    return true;
  }

  /** The node's last applied sequence number, or undefined when the node is unknown. */
  seqOf(nodeId: string): number | undefined {
    return this.nodes.get(nodeId)?.seq;
  }
}

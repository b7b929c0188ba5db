/**
 * The shard map: which router owns which registry partition. Pure and deterministic, so every
 * router and gateway that sees the same set of live routers computes the same map.
 *
 * - An audience key belongs to partition `hash32(key) mod P`; `hash32` is FNV-1a over the key's
 *   UTF-16 code units with a murmur3 finaliser. It never changes for a given key and `P`, so the
 *   partition of a key is stable across processes, restarts and versions.
 * - A partition is owned by the live router with the highest rendezvous weight
 *   `hash32(routerId + "/" + partition)` (ties broken by the smaller id). Adding a router moves to
 *   it only the partitions it now wins; removing one moves only the partitions it owned. Every
 *   other partition keeps its owner.
 */

/** 32-bit hash of a string, stable across processes. */
export function hash32(s: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 0x01000193);
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** The partition of an audience key among `partitions` (1 → always 0). */
export function partitionOf(key: string, partitions: number): number {
  return partitions <= 1 ? 0 : hash32(key) % partitions;
}

/** The rendezvous owner of `partition` among `routers`, or null when there is none. */
export function rendezvousOwner(partition: number, routers: Iterable<string>): string | null {
  let best: string | null = null;
  let bestWeight = -1;
  for (const r of routers) {
    const w = hash32(r + "/" + partition);
    if (w > bestWeight || (w === bestWeight && best !== null && r < best)) {
      best = r;
      bestWeight = w;
    }
  }
  return best;
}

/** The owner of every partition for one set of live routers. */
export class ShardMap {
  readonly partitions: number;
  readonly routers: readonly string[];
  readonly #owners: (string | null)[];

  constructor(partitions: number, routers: Iterable<string>) {
    if (!Number.isSafeInteger(partitions) || partitions < 1)
      throw new RangeError(`partitions must be a positive integer, got ${partitions}`);
    this.partitions = partitions;
    this.routers = [...new Set(routers)].sort();
    this.#owners = Array.from({ length: partitions }, (_, p) => rendezvousOwner(p, this.routers));
  }

  /** The router owning `partition`, or null when no router is live. */
  owner(partition: number): string | null {
    return this.#owners[partition] ?? null;
  }

  /** The router owning audience `key`'s partition. */
  ownerOfKey(key: string): string | null {
    return this.owner(partitionOf(key, this.partitions));
  }

  /** Partitions owned by `routerId`, ascending. */
  ownedBy(routerId: string): number[] {
    const owned: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.#owners[p] === routerId) owned.push(p);
    return owned;
  }

  /** Partitions whose owner differs between this map and `next`. */
  movedTo(next: ShardMap): number[] {
    if (next.partitions !== this.partitions) throw new RangeError("maps of different partition counts");
    const moved: number[] = [];
    for (let p = 0; p < this.partitions; p++) if (this.#owners[p] !== next.#owners[p]) moved.push(p);
    return moved;
  }
}

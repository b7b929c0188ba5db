/**
 * The registry digest: an order-independent fingerprint of a node's audience-key set, shared by the
 * gateway (`RegistryAnnouncer`) and the router (`MemoryAudienceRegistry`) so both compute it the
 * same way. Each key hashes to 64 bits (two 32-bit lanes, cyrb53 mixing); the digest is the key
 * count plus the lane-wise sum of the hashes modulo 2^32. Sums commute, so the order of keys does
 * not matter, and adding or removing one key updates the digest in O(1). Equal sets give equal
 * digests; unequal sets collide with probability about 2^-64.
 */

/** Running digest of a set of keys; the caller guarantees each key is added at most once before it is removed. */
export class DigestAccumulator {
  #count = 0;
  #lo = 0;
  #hi = 0;

  add(key: string): void {
    this.#mix(key, 1);
  }

  remove(key: string): void {
    this.#mix(key, -1);
  }

  get count(): number {
    return this.#count;
  }

  /** `<count base36>-<16 hex digits>`. */
  value(): string {
    return this.#count.toString(36) + "-" + hex8(this.#hi) + hex8(this.#lo);
  }

  #mix(key: string, sign: 1 | -1): void {
    let h1 = 0xdeadbeef;
    let h2 = 0x41c6ce57;
    for (let i = 0; i < key.length; i++) {
      const ch = key.charCodeAt(i);
      h1 = Math.imul(h1 ^ ch, 2654435761);
      h2 = Math.imul(h2 ^ ch, 1597334677);
    }
    h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507);
    h1 ^= Math.imul(h2 ^ (h2 >>> 13), 3266489909);
    h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507);
    h2 ^= Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    this.#count += sign;
    this.#lo = (this.#lo + sign * (h1 >>> 0)) >>> 0;
    this.#hi = (this.#hi + sign * (h2 >>> 0)) >>> 0;
  }
}

/** The digest of a set of distinct keys, in any order. */
export function registryDigest(keys: Iterable<string>): string {
  const acc = new DigestAccumulator();
  for (const k of keys) acc.add(k);
  return acc.value();
}

function hex8(n: number): string {
  return n.toString(16).padStart(8, "0");
}

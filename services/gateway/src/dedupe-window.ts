import { randomInt } from "node:crypto";

const NONE = -1;
const INITIAL_CAPACITY = 256;
/** The window is split into 2^SHARD_BITS shards by the hash's top bits; see `DedupeWindow`. */
const SHARD_BITS = 5;

/**
 * The (notification id, audience) pairs delivered within a fixed window, answering exactly: a pair is
 * a duplicate only when the same id and audience strings were recorded, never on a hash match alone.
 *
 * Split into independent shards by the hash's top bits, each resized on its own: a resize copies and
 * relinks every entry of one shard, so the largest pause is a 32nd of a whole-window resize (a window of
 * 600,000 ids, 120 s at 5,000/s, doubled in one call took ~55 ms: every delivery on the node waited).
 * Each call expires its own shard and, in turn, one other, so no shard holds expired entries for long.
 *
 * The hash is seeded per process, so ids chosen to collide cannot be prepared in advance to make chains long.
 */
export class DedupeWindow {
  readonly #seed: number;
  readonly #shards: DedupeShard[];
  /** The shard the next call also expires. */
  #sweep = 0;
  #now = -Infinity;

  /** `seed`: fixed only by tests (to build colliding ids); random otherwise. */
  constructor(windowMs: number, seed = randomInt(2 ** 31)) {
    this.#seed = seed;
    this.#shards = Array.from({ length: 1 << SHARD_BITS }, () => new DedupeShard(windowMs));
  }

  /** Live entries as of the latest `seen`. */
  get size(): number {
    let size = 0;
    for (const shard of this.#shards) {
      shard.expire(this.#now);
      size += shard.size;
    }
    return size;
  }

  /** True when (`id`, `audienceId`) was recorded within the window before `now`; otherwise records it and returns false. */
  seen(id: string, audienceId: string, now: number): boolean {
    this.#now = now;
    const sweep = this.#sweep;
    this.#sweep = (sweep + 1) & ((1 << SHARD_BITS) - 1);
    this.#shards[sweep]!.expire(now);
    const hash = this.hash(id);
    return this.#shards[hash >>> (32 - SHARD_BITS)]!.seen(id, audienceId, hash, now);
  }

  /** True when (`id`, `audienceId`) is recorded (expiry as of the last `seen`). */
  has(id: string, audienceId: string): boolean {
    const hash = this.hash(id);
    const shard = this.#shards[hash >>> (32 - SHARD_BITS)]!;
    shard.expire(this.#now);
    return shard.has(id, audienceId, hash);
  }

  /** The seeded 32-bit hash the table files `id` under (FNV-1a over UTF-16 units, then murmur3's finaliser). */
  hash(id: string): number {
    let h = this.#seed ^ 0x811c9dc5;
    for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
    h ^= h >>> 16;
    h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13;
    h = Math.imul(h, 0xc2b2ae35);
    return (h ^ (h >>> 16)) >>> 0;
  }
}

/**
 * One shard of the window: the pairs whose hash has its top bits.
 *
 * Entries live in a ring indexed by a sequence number that grows by one per entry (`head` is the oldest
 * live one, `tail` the next). The window is fixed, so entries expire in sequence order: only the front
 * can be due, and expiring is advancing `head`. Lookups go through a chained hash table held in typed
 * arrays: `buckets[hash & bucketMask]` is the newest sequence number in the bucket, `next[...]` the one
 * before it. A chain runs newest to oldest, so it ends at the first number below `head`: expired
 * entries need no unlinking, and a number pointing at a reused ring slot is never followed. With a
 * bucket per half entry, a lookup reads about one bucket and one entry (a `Map` over every id of the
 * window reads a bucket, an entry and the key string, each a cache miss at hundreds of thousands of ids).
 */
class DedupeShard {
  readonly #windowMs: number;
  #mask = INITIAL_CAPACITY - 1;
  #ids: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY);
  #audiences: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY);
  /**
   * Per slot, side by side so that a probe reads one cache line: [p*3] the id's hash, [p*3+1] the
   * sequence number of the previous entry of the same bucket (NONE at a chain's end), [p*3+2] expiry (ms).
   */
  #slots = new Float64Array(3 * INITIAL_CAPACITY);
  #bucketMask = 2 * INITIAL_CAPACITY - 1;
  #buckets = new Float64Array(2 * INITIAL_CAPACITY).fill(NONE);
  #head = 0;
  #tail = 0;

  constructor(windowMs: number) {
    this.#windowMs = windowMs;
  }

  /** Live entries. */
  get size(): number {
    return this.#tail - this.#head;
  }

  /** `DedupeWindow.seen` with the id's hash. */
  seen(id: string, audienceId: string, hash: number, now: number): boolean {
    this.expire(now);
    if (this.#find(id, audienceId, hash)) return true;
    const size = this.#tail - this.#head;
    if (size > this.#mask) this.#resize(2 * (this.#mask + 1));
    // Gives memory back after a burst; halving leaves it a quarter full, far from the next doubling.
    else if (size * 8 < this.#mask && this.#mask >= INITIAL_CAPACITY) this.#resize((this.#mask + 1) / 2);
    const seq = this.#tail++;
    const p = seq & this.#mask;
    this.#ids[p] = id;
    this.#audiences[p] = audienceId;
    const b = hash & this.#bucketMask;
    const slots = this.#slots;
    slots[3 * p] = hash;
    slots[3 * p + 1] = this.#buckets[b]!;
    slots[3 * p + 2] = now + this.#windowMs;
    this.#buckets[b] = seq;
    return false;
  }

  has(id: string, audienceId: string, hash: number): boolean {
    return this.#find(id, audienceId, hash);
  }

  #find(id: string, audienceId: string, hash: number): boolean {
    const mask = this.#mask;
    const slots = this.#slots;
    for (let seq = this.#buckets[hash & this.#bucketMask]!; seq >= this.#head;) {
      const p = seq & mask;
      if (slots[3 * p] === hash && this.#ids[p] === id && this.#audiences[p] === audienceId) return true;
      seq = slots[3 * p + 1]!;
    }
    return false;
  }

  /** Forgets the entries at the front whose expiry is <= now (stops at the first later one). */
  expire(now: number): void {
    const mask = this.#mask;
    let head = this.#head;
    while (head < this.#tail && this.#slots[3 * (head & mask) + 2]! <= now) {
      const p = head & mask;
      // Let the strings go; the slot's numbers are overwritten when it is reused.
      this.#ids[p] = this.#audiences[p] = undefined;
      head++;
    }
    this.#head = head;
  }

  /** Resizes the ring (and the buckets, two per slot), moving the live entries to their new slots and relinking the chains. */
  #resize(capacity: number): void {
    const mask = capacity - 1;
    const ids = new Array<string | undefined>(capacity);
    const audiences = new Array<string | undefined>(capacity);
    const slots = new Float64Array(3 * capacity);
    const bucketMask = 2 * capacity - 1;
    const buckets = new Float64Array(2 * capacity).fill(NONE);
    for (let seq = this.#head; seq < this.#tail; seq++) {
      const from = seq & this.#mask;
      const p = seq & mask;
      ids[p] = this.#ids[from];
      audiences[p] = this.#audiences[from];
      const hash = this.#slots[3 * from]!;
      const b = hash & bucketMask;
      slots[3 * p] = hash;
      slots[3 * p + 1] = buckets[b]!;
      slots[3 * p + 2] = this.#slots[3 * from + 2]!;
      buckets[b] = seq;
    }
    this.#mask = mask;
    this.#ids = ids;
    this.#audiences = audiences;
    this.#slots = slots;
    this.#bucketMask = bucketMask;
    this.#buckets = buckets;
  }
}

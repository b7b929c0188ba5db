import { randomInt } from "node:crypto";
import { hashString, hashUnits } from "./code-units.js";

const NONE = -1;
const INITIAL_CAPACITY = 256;
/** The window is split into 2^SHARD_BITS shards by the hash's top bits; see `DedupeWindow`. */
const SHARD_BITS = 5;
/** One call in SWEEP_EVERY (a power of two) also expires another shard; see `DedupeWindow`. */
const SWEEP_EVERY = 8;
/** A shard renumbers its entries (see `DedupeShard`) before a sequence number would pass 32 bits. */
const MAX_SEQ = 2 ** 31 - 1;
/**
 * An id in an arena: a 32-bit length word (little endian: its byte count, with WIDE set when it takes two
 * bytes per code unit), then the bytes.
 */
const LENGTH_BYTES = 4;
const WIDE = 0x80000000;
const INITIAL_ARENA_BYTES = 4096;

/** The length word of the id at `at` in an arena (as a signed 32-bit integer, as `word | 0` compares). */
function lengthWordAt(arena: Uint8Array, at: number): number {
  return arena[at]! | (arena[at + 1]! << 8) | (arena[at + 2]! << 16) | (arena[at + 3]! << 24);
}

/**
 * The (notification id, audience) pairs delivered within a fixed window, answering exactly: a pair is
 * a duplicate only when the same id and audience were recorded, never on a hash match alone.
 *
 * Ids are kept as bytes, not strings: a framed node message's id is looked up straight from its header
 * (`seenBytes`), and the window holds no string per delivery for the garbage collector to copy and
 * promote. Every id is compared and stored in one form, its UTF-16 code units one byte each when all are
 * below 256, else two (little endian), so an id matches itself whatever the form it arrives in (a string,
 * ASCII or UTF-16LE header bytes). The audience is kept as a string: fan-out passes its audience entry's
 * own key, one string per audience rather than per delivery.
 *
 * Split into independent shards by the hash's top bits, each resized on its own: a resize copies and
 * relinks every entry of one shard, so the largest pause is a 32nd of a whole-window resize (a window of
 * 600,000 ids, 120 s at 5,000/s, doubled in one call took ~55 ms: every delivery on the node waited).
 * Each call expires its own shard, and every SWEEP_EVERY-th call, in turn, one other, so no shard holds
 * expired entries for long (every shard is swept at least once per 256 calls; more often would cost a
 * cache miss per call for memory alone: a lookup expires its own shard first either way).
 *
 * The hash is seeded per process, so ids chosen to collide cannot be prepared in advance to make chains long.
 */
export class DedupeWindow {
  readonly #seed: number;
  readonly #shards: DedupeShard[];
  /** Calls so far, and the shard the next sweeping call also expires. */
  #calls = 0;
  #sweep = 0;
  #now = -Infinity;
  /** An id in the stored form when it does not arrive in it (a string, or UTF-16LE whose units all fit a byte). */
  #scratch = new Uint8Array(1024);

  /**
   * `seed`: fixed only by tests (to build colliding ids); random otherwise. `maxSeq`: lowered only by
   * tests, to make shards renumber their entries often.
   */
  constructor(windowMs: number, seed = randomInt(2 ** 31), maxSeq = MAX_SEQ) {
    this.#seed = seed;
    this.#shards = Array.from({ length: 1 << SHARD_BITS }, () => new DedupeShard(windowMs, maxSeq));
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

  /** True when (`id`, `audience`) was recorded within the window before `now`; otherwise records it and returns false. */
  seen(id: string, audience: string, now: number): boolean {
    const word = this.#load(id);
    return this.#seen(this.#scratch, 0, word, audience, now);
  }

  /**
   * `seen` for an id given as `bytes[start, end)`: one byte per code unit, or, when `wide`, two (UTF-16LE;
   * an even count). The bytes are read during the call only.
   */
  seenBytes(bytes: Uint8Array, start: number, end: number, wide: boolean, audience: string, now: number): boolean {
    if (!wide) return this.#seen(bytes, start, end - start, audience, now);
    const word = this.#loadWide(bytes, start, end);
    return (word & WIDE) === 0 ? this.#seen(this.#scratch, 0, word, audience, now) : this.#seen(bytes, start, word, audience, now);
  }

  /** True when (`id`, `audience`) is recorded (expiry as of the last `seen`). */
  has(id: string, audience: string): boolean {
    const word = this.#load(id);
    const hash = this.#hash(this.#scratch, 0, word);
    const shard = this.#shards[hash >>> (32 - SHARD_BITS)]!;
    shard.expire(this.#now);
    return shard.has(this.#scratch, 0, word, audience, hash);
  }

  /** The seeded 32-bit hash the table files `id` under (`hashString`). */
  hash(id: string): number {
    return hashString(this.#seed, id);
  }

  #seen(key: Uint8Array, start: number, word: number, audience: string, now: number): boolean {
    this.#now = now;
    if ((++this.#calls & (SWEEP_EVERY - 1)) === 0) {
      const sweep = this.#sweep;
      this.#sweep = (sweep + 1) & ((1 << SHARD_BITS) - 1);
      this.#shards[sweep]!.expire(now);
    }
    const hash = this.#hash(key, start, word);
    return this.#shards[hash >>> (32 - SHARD_BITS)]!.seen(key, start, word, audience, hash, now);
  }

  #hash(key: Uint8Array, start: number, word: number): number {
    return hashUnits(this.#seed, key, start, start + (word & ~WIDE), (word & WIDE) !== 0);
  }

  /** Writes `id` in the stored form into the scratch buffer; returns its length word. */
  #load(id: string): number {
    const n = id.length;
    let wide = false;
    for (let i = 0; i < n && !wide; i++) wide = id.charCodeAt(i) > 0xff;
    const scratch = this.#room(wide ? 2 * n : n);
    if (!wide) {
      for (let i = 0; i < n; i++) scratch[i] = id.charCodeAt(i);
      return n;
    }
    for (let i = 0; i < n; i++) {
      const c = id.charCodeAt(i);
      scratch[2 * i] = c & 0xff;
      scratch[2 * i + 1] = c >>> 8;
    }
    return (2 * n) | WIDE;
  }

  /**
   * The length word of UTF-16LE `bytes[start, end)` in the stored form: two bytes per unit as they are
   * when a unit is 256 or above; otherwise one byte per unit, written into the scratch buffer.
   */
  #loadWide(bytes: Uint8Array, start: number, end: number): number {
    for (let i = start + 1; i < end; i += 2) if (bytes[i] !== 0) return (end - start) | WIDE;
    const n = (end - start) >>> 1;
    const scratch = this.#room(n);
    for (let i = 0; i < n; i++) scratch[i] = bytes[start + 2 * i]!;
    return n;
  }

  #room(bytes: number): Uint8Array {
    if (this.#scratch.length < bytes) this.#scratch = new Uint8Array(2 * bytes);
    return this.#scratch;
  }
}

/**
 * One shard of the window: the pairs whose hash has its top bits.
 *
 * Entries live in a ring indexed by a sequence number that grows by one per entry (`head` is the oldest
 * live one, `tail` the next). The window is fixed, so entries expire in sequence order: only the front
 * can be due, and expiring is advancing `head`. Lookups go through a chained hash table:
 * `buckets[hash & bucketMask]` is the newest sequence number in the bucket, the slot's link the one
 * before it. A chain runs newest to oldest, so it ends at the first number below `head`: expired entries
 * need no unlinking, and a number pointing at a reused ring slot is never followed. With a bucket per
 * half entry, a lookup of a new id reads about one bucket and one link; ids are compared only on a hash
 * match.
 *
 * What a lookup reads at random places is kept small, so that more of it stays in the CPU's caches:
 * buckets and links are 32-bit (a bucket 4 bytes, a slot's hash and link 8), while expiry and arena
 * position, read at the ring's ends and on a hash match only, are in an array of their own. Sequence
 * numbers restart from 0 at every resize (which moves every live entry anyway), and a shard whose next
 * number would reach MAX_SEQ is resized to its own size, so they always fit 32 bits.
 *
 * The ids' bytes are in an arena, a byte ring in the same order as the entries: positions grow, an id
 * never wraps around the end (the rest of the lap is skipped), and expiring the front entries frees
 * the arena up to the first live id. A full arena moves into one at least twice as large, every byte
 * keeping its position (one copy, no entry changes); when the ring shrinks, the ids are compacted into a
 * smaller arena.
 */
class DedupeShard {
  readonly #windowMs: number;
  readonly #maxSeq: number;
  #mask = INITIAL_CAPACITY - 1;
  #audiences: (string | undefined)[] = new Array<string | undefined>(INITIAL_CAPACITY);
  /** Per slot: [2p] the id's hash (as a signed 32-bit integer), [2p+1] the sequence number of the previous entry of the same bucket (any number below `head` ends the chain). */
  #links = new Int32Array(2 * INITIAL_CAPACITY);
  /** Per slot: [2p] expiry (ms), [2p+1] the id's position in the arena. */
  #times = new Float64Array(2 * INITIAL_CAPACITY);
  #bucketMask = 2 * INITIAL_CAPACITY - 1;
  #buckets = new Int32Array(2 * INITIAL_CAPACITY).fill(NONE);
  #head = 0;
  #tail = 0;
  #arena = new Uint8Array(INITIAL_ARENA_BYTES);
  /** Arena positions (index: position & (length - 1)) of the first live id and of the next byte to write. */
  #arenaHead = 0;
  #arenaTail = 0;

  constructor(windowMs: number, maxSeq: number) {
    this.#windowMs = windowMs;
    this.#maxSeq = maxSeq;
  }

  /** Live entries. */
  get size(): number {
    return this.#tail - this.#head;
  }

  /** `DedupeWindow.seen` with the id in the stored form (`key[start…]`, `word` its length word) and its hash. */
  seen(key: Uint8Array, start: number, word: number, audience: string, hash: number, now: number): boolean {
    this.expire(now);
    if (this.#find(key, start, word, audience, hash)) return true;
    const size = this.#tail - this.#head;
    if (size > this.#mask) this.#resize(2 * (this.#mask + 1));
    // Gives memory back after a burst; halving leaves it a quarter full, far from the next doubling.
    else if (size * 8 < this.#mask && this.#mask >= INITIAL_CAPACITY) this.#resize((this.#mask + 1) / 2);
    else if (this.#tail >= this.#maxSeq) this.#resize(this.#mask + 1);
    const seq = this.#tail++;
    const p = seq & this.#mask;
    this.#audiences[p] = audience;
    const b = hash & this.#bucketMask;
    this.#links[2 * p] = hash;
    this.#links[2 * p + 1] = this.#buckets[b]!;
    this.#buckets[b] = seq;
    this.#times[2 * p] = now + this.#windowMs;
    this.#times[2 * p + 1] = this.#store(key, start, word);
    return false;
  }

  has(key: Uint8Array, start: number, word: number, audience: string, hash: number): boolean {
    return this.#find(key, start, word, audience, hash);
  }

  #find(key: Uint8Array, start: number, word: number, audience: string, hash: number): boolean {
    const mask = this.#mask;
    const links = this.#links;
    for (let seq = this.#buckets[hash & this.#bucketMask]!; seq >= this.#head;) {
      const p = seq & mask;
      if (links[2 * p] === hash && this.#audiences[p] === audience && this.#idAt(this.#times[2 * p + 1]!, key, start, word)) return true;
      seq = links[2 * p + 1]!;
    }
    return false;
  }

  /** True when the id at arena position `position` is `key[start…]` (length word `word`). */
  #idAt(position: number, key: Uint8Array, start: number, word: number): boolean {
    const arena = this.#arena;
    const at = position & (arena.length - 1);
    if (lengthWordAt(arena, at) !== (word | 0)) return false;
    const from = at + LENGTH_BYTES;
    const bytes = word & ~WIDE;
    for (let i = 0; i < bytes; i++) if (arena[from + i] !== key[start + i]) return false;
    return true;
  }

  /** Appends the id to the arena (compacting it into a larger one when full); returns its position. */
  #store(key: Uint8Array, start: number, word: number): number {
    const need = LENGTH_BYTES + (word & ~WIDE);
    let position = this.#lapped(this.#arenaTail, need);
    if (position + need - this.#arenaHead > this.#arena.length) {
      this.#grow(2 * (this.#arenaTail - this.#arenaHead + need));
      position = this.#lapped(this.#arenaTail, need);
    }
    const arena = this.#arena;
    const at = position & (arena.length - 1);
    arena[at] = word & 0xff;
    arena[at + 1] = (word >>> 8) & 0xff;
    arena[at + 2] = (word >>> 16) & 0xff;
    arena[at + 3] = word >>> 24;
    const bytes = need - LENGTH_BYTES;
    for (let i = 0; i < bytes; i++) arena[at + LENGTH_BYTES + i] = key[start + i]!;
    this.#arenaTail = position + need;
    return position;
  }

  /** `position`, or the start of the next lap when `need` bytes from it would run past the arena's end. */
  #lapped(position: number, need: number): number {
    const length = this.#arena.length;
    const offset = position & (length - 1);
    return offset + need > length ? position + length - offset : position;
  }

  /** Forgets the entries at the front whose expiry is <= now (stops at the first later one). */
  expire(now: number): void {
    const mask = this.#mask;
    let head = this.#head;
    if (head === this.#tail || this.#times[2 * (head & mask)]! > now) return;
    do {
      // Let the audience go; the slot's numbers are overwritten when it is reused.
      this.#audiences[head & mask] = undefined;
      head++;
    } while (head < this.#tail && this.#times[2 * (head & mask)]! <= now);
    this.#head = head;
    this.#arenaHead = head < this.#tail ? this.#times[2 * (head & mask) + 1]! : this.#arenaTail;
  }

  /**
   * Resizes the ring (and the buckets, two per slot), moving the live entries to new slots numbered from 0
   * and relinking the chains.
   */
  #resize(capacity: number): void {
    const mask = capacity - 1;
    const audiences = new Array<string | undefined>(capacity);
    const links = new Int32Array(2 * capacity);
    const times = new Float64Array(2 * capacity);
    const bucketMask = 2 * capacity - 1;
    const buckets = new Int32Array(2 * capacity).fill(NONE);
    const size = this.#tail - this.#head;
    for (let seq = 0; seq < size; seq++) {
      const from = (this.#head + seq) & this.#mask;
      audiences[seq] = this.#audiences[from];
      const hash = this.#links[2 * from]!;
      const b = hash & bucketMask;
      links[2 * seq] = hash;
      links[2 * seq + 1] = buckets[b]!;
      buckets[b] = seq;
      times[2 * seq] = this.#times[2 * from]!;
      times[2 * seq + 1] = this.#times[2 * from + 1]!;
    }
    const shrinking = capacity <= this.#mask;
    this.#mask = mask;
    this.#audiences = audiences;
    this.#links = links;
    this.#times = times;
    this.#bucketMask = bucketMask;
    this.#buckets = buckets;
    this.#head = 0;
    this.#tail = size;
    // Growing, the arena grows by itself when full; shrinking, it gives its memory back too.
    if (shrinking) this.#compact(2 * (this.#arenaTail - this.#arenaHead));
  }

  /**
   * Moves the arena into one of at least `bytes` (a power of two, so a multiple of the old length): every
   * live byte keeps its position, so no entry changes, and an id that did not run past the old end does
   * not run past the new one.
   */
  #grow(bytes: number): void {
    let length = 2 * this.#arena.length;
    while (length < bytes) length *= 2;
    const from = this.#arena;
    const arena = new Uint8Array(length);
    for (let position = this.#arenaHead; position < this.#arenaTail;) {
      const at = position & (from.length - 1);
      const to = position & (length - 1);
      const n = Math.min(this.#arenaTail - position, from.length - at, length - to);
      arena.set(from.subarray(at, at + n), to);
      position += n;
    }
    this.#arena = arena;
  }

  /** Copies the live ids, in order and without gaps, to the start of a new arena of at least `bytes` (a power of two). */
  #compact(bytes: number): void {
    let length = INITIAL_ARENA_BYTES;
    while (length < bytes) length *= 2;
    const from = this.#arena;
    const arena = new Uint8Array(length);
    let position = 0;
    for (let seq = this.#head; seq < this.#tail; seq++) {
      const slot = 2 * (seq & this.#mask) + 1;
      const at = this.#times[slot]! & (from.length - 1);
      const need = LENGTH_BYTES + (lengthWordAt(from, at) & ~WIDE);
      // Byte by byte: ids are short, and a view per id for `set` would cost more.
      for (let i = 0; i < need; i++) arena[position + i] = from[at + i]!;
      this.#times[slot] = position;
      position += need;
    }
    this.#arena = arena;
    this.#arenaHead = 0;
    this.#arenaTail = position;
  }
}

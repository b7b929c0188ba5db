const EMPTY = new Uint8Array(0);

/**
 * Growable byte buffer for partial inbound input. Appends copy (callers' chunks may be reused after
 * the call) and grow geometrically, so feeding a message one byte at a time costs linear time.
 */
export class ByteBuffer {
  #bytes: Uint8Array = EMPTY;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  append(chunk: Uint8Array): void {
    const needed = this.#length + chunk.length;
    if (needed > this.#bytes.length) {
      const grown = new Uint8Array(Math.max(needed, this.#bytes.length * 2, 64));
      grown.set(this.#bytes.subarray(0, this.#length));
      this.#bytes = grown;
    }
    this.#bytes.set(chunk, this.#length);
    this.#length = needed;
  }

  /** The buffered bytes. The view is valid only until the next append, discard or clear. */
  view(): Uint8Array {
    return this.#bytes.subarray(0, this.#length);
  }

  /** Drops the first `count` bytes. */
  discard(count: number): void {
    if (count >= this.#length) {
      this.clear();
      return;
    }
    this.#bytes.copyWithin(0, count, this.#length);
    this.#length -= count;
  }

  /** Empties the buffer and releases its storage: idle connections hold no memory. */
  clear(): void {
    this.#bytes = EMPTY;
    this.#length = 0;
  }
}

/**
 * Loopback source addresses for client sockets. Every 127.0.0.0/8 address is local on Linux, and
 * each one has its own ~28k ephemeral ports, so handing each client process fresh addresses avoids
 * port exhaustion and collisions with TIME_WAIT sockets of earlier cases or runs. The second octet
 * is random per run for the same reason.
 */
export class AddressPool {
  #next = 0;
  readonly #second: number;

  constructor(second = 16 + Math.floor(Math.random() * 224)) {
    if (!Number.isInteger(second) || second < 1 || second > 254) throw new Error(`bad second octet ${second}`);
    this.#second = second;
  }

  /** 127.S.x.y with y in 1..250, never repeating within a pool (64,000 addresses). */
  take(): string {
    const i = this.#next++;
    if (i >= 256 * 250) throw new Error("loopback address pool exhausted");
    return `127.${this.#second}.${Math.floor(i / 250)}.${1 + (i % 250)}`;
  }

  takeMany(n: number): string[] {
    return Array.from({ length: n }, () => this.take());
  }
}

/** Splits `total` into `parts` near-equal integers, larger ones first. */
export function split(total: number, parts: number): number[] {
  const base = Math.floor(total / parts);
  const extra = total % parts;
  return Array.from({ length: parts }, (_, i) => base + (i < extra ? 1 : 0));
}

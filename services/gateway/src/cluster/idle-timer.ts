/**
 * Fires `onIdle` once nothing re-armed it for `ms`. The owner of a relayed stream or socket Pings it while
 * idle, so on the relaying side silence that long means the owner is gone. Unref'd: it never keeps the
 * process alive.
 */
export class IdleTimer {
  #timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ms: number,
    private readonly onIdle: () => void,
  ) {}

  /** (Re)starts the countdown. */
  arm(): void {
    this.clear();
    this.#timer = setTimeout(this.onIdle, this.ms);
    this.#timer.unref();
  }

  clear(): void {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
  }
}

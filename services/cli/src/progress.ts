/**
 * Progress on stderr, never on stdout (which carries the answers). On a terminal one line is redrawn
 * in place, at most ten times a second; elsewhere (a log, a pipe) a line is written per tenth of the
 * total, or per 10,000 when the total is unknown, so logs stay short.
 */
export class Progress {
  #lastDraw = 0;
  #lastLogged = 0;
  #drawn = false;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly enabled: boolean,
    private readonly total: number | undefined,
  ) {}

  update(sent: number): void {
    if (!this.enabled) return;
    if (this.out.isTTY === true) {
      const now = Date.now();
      if (now - this.#lastDraw < 100 && sent !== this.total) return;
      this.#lastDraw = now;
      this.#drawn = true;
      this.out.write(`\r\x1b[K${this.#line(sent, (this.out.columns ?? 80) > 60 ? 30 : 10)}`);
      return;
    }
    const step = this.total === undefined ? 10_000 : Math.max(1, Math.ceil(this.total / 10));
    if (sent - this.#lastLogged >= step || sent === this.total) {
      this.#lastLogged = sent;
      this.out.write(`tidings: ${this.#line(sent, 20)}\n`);
    }
  }

  /** Ends the redrawn line so later output starts on its own line. */
  done(): void {
    if (this.#drawn) this.out.write("\n");
    this.#drawn = false;
  }

  #line(sent: number, width: number): string {
    if (this.total === undefined || this.total === 0) return `published ${sent}`;
    const filled = Math.round((sent / this.total) * width);
    const pct = Math.floor((sent / this.total) * 100);
    return `[${"#".repeat(filled)}${"-".repeat(width - filled)}] ${pct}% ${sent}/${this.total}`;
  }
}

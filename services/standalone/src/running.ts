/** A running part of Tidings: `stop` drains and releases everything, then the process may exit. */
export interface Running {
  stop(): Promise<void>;
}

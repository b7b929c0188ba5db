/** An ingest queue that can tell how much work is waiting (for the pending-messages gauge). */
export interface IngestBacklog {
  /** Messages stored and not yet delivered to any consumer; sampled, may be stale by the time it resolves. */
  pending(): Promise<number>;
}

/**
 * `Date.now()`, read once per run of synchronous work: the first call reads the clock and queues a
 * microtask that makes the next call read it again. A gateway node's NATS client hands over every message
 * of one socket read in one such run, so the node messages of a batch share one reading instead of
 * paying the clock's ~50–100 ns each. Within a run the time stands still; a run is microseconds to a
 * few milliseconds, and what it is used for (the de-duplication window's expiry, keep-alive bookkeeping)
 * counts in seconds.
 */
export function turnClock(): () => number {
  let now = 0;
  let fresh = false;
  const stale = (): void => {
    fresh = false;
  };
  return () => {
    if (!fresh) {
      now = Date.now();
      fresh = true;
      queueMicrotask(stale);
    }
    return now;
  };
}

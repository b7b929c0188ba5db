/** Rejects a limit that would make every message "too large" or none (NaN). Programmer error, hence a throw. */
export function checkMaxMessageBytes(maxMessageBytes: number): void {
  if (!Number.isSafeInteger(maxMessageBytes) || maxMessageBytes < 1) {
    throw new RangeError(`maxMessageBytes must be a positive integer, got ${maxMessageBytes}`);
  }
}

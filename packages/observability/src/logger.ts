import { pino, type Logger, type LevelWithSilent } from "pino";

export type { Logger };

/**
 * One JSON line per event on stdout (pino). `service` and `nodeId` are bound on every line so logs
 * from several processes can be merged and filtered.
 */
export function createLogger(opts: { level: LevelWithSilent; service: string; nodeId?: string }): Logger {
  return pino({
    level: opts.level,
    base: { service: opts.service, ...(opts.nodeId === undefined ? {} : { nodeId: opts.nodeId }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that drops everything: for tests that assert on behaviour, not on log lines. */
export function silentLogger(): Logger {
  return pino({ level: "silent" });
}

import { Counter } from "prom-client";
import type { Logger } from "./logger.js";

/** Where an unexpected error was caught: a bounded label set. */
export const UNEXPECTED_SOURCES = ["http", "websocket", "replay", "timer", "uncaught_exception", "unhandled_rejection"] as const;
export type UnexpectedSource = (typeof UNEXPECTED_SOURCES)[number];

/**
 * Errors no code path expected (a bug, or a library throwing where it never did), process-wide.
 * Registered on every registry `createRegistry` makes; any rise is worth an alert.
 */
export const unexpectedErrors = new Counter({
  name: "tidings_unexpected_errors_total",
  help: "Unexpected errors caught by a request, socket or timer handler or by the process guard, by where they were caught. The process kept serving.",
  labelNames: ["source"] as const,
  registers: [],
});
for (const source of UNEXPECTED_SOURCES) unexpectedErrors.inc({ source }, 0);

/** Logs and counts an unexpected error; the caller has already answered or contained it. */
export function reportUnexpected(log: Logger, err: unknown, source: UnexpectedSource): void {
  unexpectedErrors.inc({ source });
  log.error({ err, source }, "unexpected error; contained, still serving");
}

let guarded = false;

/**
 * The process policy for errors that escape every handler: log, count and keep serving. A gateway
 * holds thousands of sockets, and every request, socket, bus and timer path catches its own errors,
 * so what reaches here is a bug in one path; ending the process would drop every other client for
 * it. Installed once per process.
 */
export function installProcessGuards(log: Logger): void {
  if (guarded) return;
  guarded = true;
  process.on("uncaughtException", (err) => reportUnexpected(log, err, "uncaught_exception"));
  process.on("unhandledRejection", (reason) => reportUnexpected(log, reason, "unhandled_rejection"));
}

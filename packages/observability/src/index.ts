export { createLogger, silentLogger } from "./logger.js";
export type { Logger } from "./logger.js";
export { Counter, createRegistry, FAST_BUCKETS, Gauge, Histogram, LATENCY_BUCKETS, presetLabels, Registry } from "./metrics.js";
export type { BuildInfo } from "./metrics.js";
export { startMetricsServer } from "./metrics-server.js";
export type { HealthSource, MetricsServer } from "./metrics-server.js";
export {
  contextFrom,
  destinationTemplate,
  endSpan,
  inSpan,
  startProcessSpan,
  startPublishSpan,
  startTracing,
  traceHeaders,
} from "./tracing.js";
export type { Tracing } from "./tracing.js";
export { installProcessGuards, reportUnexpected, unexpectedErrors } from "./unexpected.js";
export type { UnexpectedSource } from "./unexpected.js";

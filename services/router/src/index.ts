export { createRouter } from "./router.js";
export type { Router, RouterDeps, RouterOptions } from "./router.js";
export { createRoute } from "./route.js";
export type { RouteDeps, RouteFn } from "./route.js";
export { createRouterMetrics, DeadLetterReason, metricNames } from "./metrics.js";
export type { RouterMetrics } from "./metrics.js";
export { runRouter } from "./run-router.js";
export type { RunRouterDeps, RunningRouter } from "./run-router.js";

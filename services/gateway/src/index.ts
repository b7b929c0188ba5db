export { createGateway } from "./app.js";
export { metricNames } from "./metrics.js";
export type { Gateway, GatewayDeps, IngestSink } from "./app.js";
export type { InboxPageOptions } from "./http/inbox-page.js";
export type { MembershipListener } from "./fanout.js";
export { loadNativeUws, NativeUwsUnavailableError } from "./transport/uws.js";
export { createGatewayOrRelease, runGateway } from "./run-gateway.js";
export type { RunningGateway } from "./run-gateway.js";

export { createGateway } from "./app.js";
export type { Gateway, GatewayDeps, IngestSink } from "./app.js";
export { loadNativeUws, NativeUwsUnavailableError } from "./transport/uws.js";

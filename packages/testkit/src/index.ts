export { TEST_JWT_SECRET, mintToken } from "./tokens.js";
export type { TokenClaims } from "./tokens.js";
export { buildClient, collect } from "./signalr-client.js";
export type { ClientOptions } from "./signalr-client.js";
export { RawWs } from "./raw-ws.js";
export type { RawFrame } from "./raw-ws.js";
export { waitFor, sleep } from "./wait.js";
export { freePort, TcpProxy } from "./net.js";

/** The structured-logging calls the registry makes; a pino `Logger` fits. */
export interface RegistryLogger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

export const silentRegistryLogger: RegistryLogger = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
};

/** How often a gateway node heartbeats by default; routers assume the same interval. */
export const REGISTRY_HEARTBEAT_MS = 5000;

/** A node that missed this many heartbeats in a row is dropped. */
export const MISSED_HEARTBEATS = 3;

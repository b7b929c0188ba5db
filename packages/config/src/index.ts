export { bool, defineConfig, int, list, oneOf, screamingSnake, seconds, str, url } from "./define-config.js";
export type {
  Advice,
  ConfigOf,
  ConfigSchema,
  Field,
  FieldKind,
  FieldValue,
  Fields,
  InferConfig,
  NumberBounds,
  Parsed,
  Rule,
} from "./define-config.js";
export { LOG_LEVELS, ROLES, TENANT_VALIDATION_MODES, TRANSPORTS, configSchema } from "./schema.js";
export type { TidingsConfig, TidingsConfigKey } from "./schema.js";
export { ConfigError, configWarnings, loadConfig, readConfig, redactConfig } from "./load-config.js";
export type { Env } from "./load-config.js";
export { configDocsTable } from "./docs-table.js";

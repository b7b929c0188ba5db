import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { ConfigError, configWarnings, loadConfig, type TidingsConfig } from "@tidings/config";
import { createLogger, installProcessGuards, type Logger } from "@tidings/observability";
import { runCluster } from "./cluster.js";
import { runStandalone } from "./standalone.js";

/** Pod name (or host name) plus a random suffix, trimmed to what connection ids and NATS subjects can embed. */
function defaultNodeId(): string {
  const base = hostname().replace(/[^A-Za-z0-9_-]/g, "-").slice(0, 50) || "node";
  return `${base}-${randomBytes(3).toString("hex")}`;
}

/**
 * `--dev` (what `pnpm start` passes): with no authentication configured at all, allow anonymous
 * connections so a fresh clone works without a token. Any explicit auth setting wins.
 */
function devDefaults(env: NodeJS.ProcessEnv): Record<string, string | undefined> {
  const unset = (k: string) => (env[k] ?? "") === "";
  if (unset("TIDINGS_AUTH_JWT_SECRET") && unset("TIDINGS_AUTH_JWKS_URL") && unset("TIDINGS_AUTH_ANONYMOUS")) {
    return { ...env, TIDINGS_AUTH_ANONYMOUS: "true" };
  }
  return env;
}

function readConfig(): TidingsConfig {
  try {
    return loadConfig(process.argv.includes("--dev") ? devDefaults(process.env) : process.env);
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`tidings: invalid configuration\n${err.message}\n`);
      process.exit(1);
    }
    throw err;
  }
}

async function main(): Promise<void> {
  const config = readConfig();
  const nodeId = config.nodeId ?? defaultNodeId();
  const log: Logger = createLogger({ level: config.logLevel, service: `tidings-${config.role}`, nodeId });
  // An error that escapes every handler is logged and counted (tidings_unexpected_errors_total); the process keeps serving.
  installProcessGuards(log);
  for (const warning of configWarnings(config)) log.warn(warning);
  // Without NATS there is no cluster: `all` runs standalone (the config check refuses other roles without NATS).
  const running = config.natsUrl === undefined ? await runStandalone(config, nodeId, log) : await runCluster(config, nodeId, log);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));
}

main().catch((err: unknown) => {
  process.stderr.write(`tidings: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

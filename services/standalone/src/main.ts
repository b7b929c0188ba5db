import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { ConfigError, configWarnings, loadConfig, type TidingsConfig } from "@tidings/config";
import { createGateway, NativeUwsUnavailableError } from "@tidings/gateway";
import { createLogger } from "@tidings/observability";

/** Pod name (or host name) plus a random suffix, trimmed to what connection ids can embed. */
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
  const log = createLogger({ level: config.logLevel, service: "tidings", nodeId });
  for (const warning of configWarnings(config)) log.warn(warning);
  if (config.role !== "all" || config.natsUrl !== undefined || config.databaseUrl !== undefined) {
    log.fatal("cluster mode (TIDINGS_ROLE other than 'all', TIDINGS_NATS_URL, TIDINGS_DATABASE_URL) is not available in this build; unset them to run standalone");
    process.exit(1);
  }

  let gateway: ReturnType<typeof createGateway>;
  try {
    // Standalone: accepted notifications go straight to this node's fan-out.
    gateway = createGateway({
      config,
      log,
      nodeId,
      ingest: async (notifications) => {
        for (const n of notifications) gateway.deliver(n);
      },
    });
  } catch (err) {
    if (err instanceof NativeUwsUnavailableError) {
      log.fatal(err.message);
      process.exit(1);
    }
    throw err;
  }
  const port = await gateway.start();
  log.info({ host: config.host, port }, `tidings standalone listening on http://${config.host}:${port} (hub /notifications, ingest /api/notifications)`);

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, "shutting down");
    gateway.stop().then(
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

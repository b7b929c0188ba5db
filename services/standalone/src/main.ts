import { hostname } from "node:os";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ConfigError, configWarnings, loadConfig, type TidingsConfig } from "@tidings/config";
import { createLogger, installProcessGuards, type Logger } from "@tidings/observability";
import { runCluster } from "./cluster.js";
import { runStandalone } from "./standalone.js";

/** Pod name (or host name) plus a random suffix, trimmed to what connection ids and NATS subjects can embed. */
function defaultNodeId(): string {
  const base =
    hostname()
      .replace(/[^A-Za-z0-9_-]/g, "-")
      .slice(0, 50) || "node";
  return `${base}-${randomBytes(3).toString("hex")}`;
}

/**
 * `--dev` (what `pnpm start` passes): with no authentication configured at all, allow anonymous
 * connections so a fresh clone works without a token, and verify tokens signed with a key made up
 * for this run, which the inbox page's development sign-in mints (`devTokenSecret`). Any explicit
 * auth setting wins, and then no token is minted.
 */
function devDefaults(env: NodeJS.ProcessEnv): { env: Record<string, string | undefined>; devTokenSecret?: string } {
  const unset = (k: string) => (env[k] ?? "") === "";
  if (unset("TIDINGS_AUTH_JWT_SECRET") && unset("TIDINGS_AUTH_JWKS_URL") && unset("TIDINGS_AUTH_ANONYMOUS")) {
    const devTokenSecret = randomBytes(32).toString("hex");
    return { env: { ...env, TIDINGS_AUTH_ANONYMOUS: "true", TIDINGS_AUTH_JWT_SECRET: devTokenSecret }, devTokenSecret };
  }
  return { env };
}

const dev = process.argv.includes("--dev") ? devDefaults(process.env) : null;

/** The inbox page's build (apps/inbox/dist, `pnpm start` builds it first); `pnpm start` serves it at /inbox. */
const INBOX_DIR = fileURLToPath(new URL("../../../apps/inbox/dist", import.meta.url));

function readConfig(): TidingsConfig {
  try {
    return loadConfig(dev?.env ?? process.env);
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
  const inbox =
    dev === null ? undefined : { dir: INBOX_DIR, ...(dev.devTokenSecret === undefined ? {} : { devTokenSecret: dev.devTokenSecret }) };
  if (inbox !== undefined && !existsSync(join(INBOX_DIR, "index.html")))
    log.warn("the inbox page is not built: run `pnpm --filter @tidings/inbox build` (pnpm start does)");
  const running = config.natsUrl === undefined ? await runStandalone(config, nodeId, log, inbox) : await runCluster(config, nodeId, log);

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

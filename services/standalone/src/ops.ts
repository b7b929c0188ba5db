import type { TidingsConfig } from "@tidings/config";
import type { NotificationStore } from "@tidings/contracts";
import { startMetricsServer, type HealthSource, type Logger, type MetricsServer, type Registry } from "@tidings/observability";
import { startSweeper, type StoreHandle, type Sweeper } from "@tidings/store";

const SWEEP_INTERVAL_MS = 30_000;
const SWEEP_BATCH = 1000;
const STORE_PING_INTERVAL_MS = 5_000;

/** `/metrics`, `/healthz`, `/readyz` on TIDINGS_METRICS_PORT; null when that is 0 (off). */
export async function startOpsServer(config: TidingsConfig, registry: Registry, ready: HealthSource["ready"], log: Logger): Promise<MetricsServer | null> {
  if (config.metricsPort === 0) return null;
  const server = await startMetricsServer({ host: config.host, port: config.metricsPort, registry, health: { live: () => true, ready } });
  log.info({ port: server.port }, "metrics and health on /metrics, /healthz, /readyz");
  return server;
}

/** Deletes expired notifications in batches every 30 s; a failed pass is retried at the next interval. */
export function startExpirySweeper(store: NotificationStore, log: Logger): Sweeper {
  return startSweeper(store, {
    intervalMs: SWEEP_INTERVAL_MS,
    batch: SWEEP_BATCH,
    onError: (err) => log.warn({ err }, "expiry sweep failed; retrying at the next interval"),
  });
}

/**
 * Runs a real query against the database every 5 s; `reachable()` is false from the first failed
 * query until the next one succeeds, so `/readyz` reflects the database and not only the bus.
 */
export function watchStore(handle: StoreHandle, log: Logger): { reachable(): boolean; stop(): void } {
  let reachable = true;
  const pinger = setInterval(() => {
    handle.ping().then(
      () => void (reachable = true),
      (err: unknown) => {
        if (reachable) log.warn({ err }, "store unreachable: readiness off");
        reachable = false;
      },
    );
  }, STORE_PING_INTERVAL_MS);
  pinger.unref();
  return { reachable: () => reachable, stop: () => clearInterval(pinger) };
}

/** The database settings of the store, from the config. */
export function storeOptionsOf(config: TidingsConfig): { databaseUrl: string | undefined; dataDir: string; sslMode: TidingsConfig["databaseSslMode"]; sslRootCert: string | undefined } {
  return { databaseUrl: config.databaseUrl, dataDir: config.dataDir, sslMode: config.databaseSslMode, sslRootCert: config.databaseSslRootCert };
}

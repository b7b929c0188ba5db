import type { TidingsConfig } from "@tidings/config";
import type { NotificationStore } from "@tidings/contracts";
import { startMetricsServer, type HealthSource, type Logger, type MetricsServer, type Registry } from "@tidings/observability";
import { startSweeper, type Sweeper } from "@tidings/store";

const SWEEP_INTERVAL_MS = 30_000;
const SWEEP_BATCH = 1000;

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

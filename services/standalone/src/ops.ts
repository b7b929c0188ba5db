import type { TidingsConfig } from "@tidings/config";
import { startMetricsServer, type HealthSource, type Logger, type MetricsServer, type Registry } from "@tidings/observability";

/** `/metrics`, `/healthz`, `/readyz` on TIDINGS_METRICS_PORT; null when that is 0 (off). */
export async function startOpsServer(
  config: TidingsConfig,
  registry: Registry,
  ready: HealthSource["ready"],
  log: Logger,
): Promise<MetricsServer | null> {
  if (config.metricsPort === 0) return null;
  const server = await startMetricsServer({ host: config.host, port: config.metricsPort, registry, health: { live: () => true, ready } });
  log.info({ port: server.port }, "metrics and health on /metrics, /healthz, /readyz");
  return server;
}

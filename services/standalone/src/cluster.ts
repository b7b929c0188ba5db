import type { TidingsConfig } from "@tidings/config";
import { NativeUwsUnavailableError, runGateway } from "@tidings/gateway";
import { createRegistry, startTracing, type Logger } from "@tidings/observability";
import { runRouter } from "@tidings/router";
import { runStore } from "@tidings/store";
import { startOpsServer } from "./ops.js";
import type { Running } from "./running.js";

interface Part {
  name: string;
  ready(): boolean;
  stop(): Promise<void>;
}

/**
 * Cluster mode: the roles selected by TIDINGS_ROLE (`all` = gateway + router + store in this process,
 * talking over NATS exactly as separate processes do), metrics and health on TIDINGS_METRICS_PORT.
 * Each service owns its runner; this only chooses which run, in dependency order.
 */
export async function runCluster(config: TidingsConfig, nodeId: string, log: Logger): Promise<Running> {
  const tracing = await startTracing({ serviceName: `tidings-${config.role}` });
  const registry = createRegistry({ node: nodeId, build: { version: config.buildVersion, revision: config.buildRevision } });
  const runs = (role: TidingsConfig["role"]) => config.role === role || config.role === "all";
  const parts: Part[] = [];
  try {
    if (runs("store")) parts.push({ name: "store", ...(await runStore(config, log, registry)) });
    if (runs("router")) {
      const router = await runRouter(config, log, {
        metricsRegistry: registry,
        options: { registry: { heartbeatIntervalMs: config.registryHeartbeatSeconds * 1000 } },
      });
      parts.push({ name: "router", stop: () => router.stop(), ready: () => router.ready });
    }
    if (runs("gateway")) {
      try {
        parts.push({ name: "gateway", ...(await runGateway(config, nodeId, log, registry)) });
      } catch (err) {
        if (!(err instanceof NativeUwsUnavailableError)) throw err;
        log.fatal(err.message);
        process.exit(1);
      }
    }
  } catch (err) {
    for (const p of parts.reverse()) await p.stop();
    throw err;
  }
  const metricsServer = await startOpsServer(
    config,
    registry,
    () => {
      const notReady = parts.find((p) => !p.ready());
      return notReady === undefined ? { ready: true } : { ready: false, reason: `${notReady.name} not ready` };
    },
    log,
  );
  return {
    async stop() {
      // Gateway first (drain sockets), then the router (finish and ack in-flight), the store last.
      for (const p of [...parts].reverse()) await p.stop();
      await metricsServer?.close();
      await tracing?.shutdown();
    },
  };
}

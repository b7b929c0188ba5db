import type { TidingsConfig } from "@tidings/config";
import type { Notification } from "@tidings/contracts";
import { createGatewayOrRelease, NativeUwsUnavailableError, type InboxPageOptions } from "@tidings/gateway";
import { createRegistry, startTracing, type Logger } from "@tidings/observability";
import { createStore, startExpirySweeper, storeOptionsOf, watchStore, withDeadline } from "@tidings/store";
import type { Running } from "./running.js";
import { startOpsServer } from "./ops.js";

/**
 * One process: gateway + store (embedded PGlite unless TIDINGS_DATABASE_URL is set), with routing
 * in-process. Accepted (HTTP 202) means: every persisted notification of the batch is stored, then
 * the batch is delivered to local connections. A store failure answers 503 before anything is delivered.
 * `inbox`: the inbox page served at /inbox (`pnpm start`).
 */
export async function runStandalone(config: TidingsConfig, nodeId: string, log: Logger, inbox?: InboxPageOptions): Promise<Running> {
  const tracing = await startTracing({ serviceName: "tidings" });
  const registry = createRegistry({ node: nodeId, build: { version: config.buildVersion, revision: config.buildRevision } });
  const storeHandle = await createStore({ ...storeOptionsOf(config), registry, logger: log });
  log.info({ embedded: storeHandle.embedded, dataDir: storeHandle.embedded ? config.dataDir : undefined }, "notification store ready");
  const sweeper = startExpirySweeper(storeHandle.store, log);

  // Callers get an answer within the forward timeout, as from the store service in a cluster.
  const store = withDeadline(storeHandle.store, config.forwardTimeoutSeconds * 1000);
  const release = async () => {
    await sweeper.stop();
    await storeHandle.close();
  };
  const gateway = await createGatewayOrRelease(
    {
      config,
      log,
      nodeId,
      registry,
      store,
      ...(inbox === undefined ? {} : { inbox }),
      ingest: async (notifications: readonly Notification[], traceHeaders) => {
        for (const n of notifications) {
          if (n.metadata.isPersisted) await store.save(n);
        }
        // Duplicates are delivered again too: the gateway de-duplicates within the window, and a
        // retry after a crash between save and delivery must still reach online clients.
        for (const n of notifications) gateway.deliver(n, traceHeaders);
      },
    },
    release,
  ).catch((err: unknown) => {
    if (err instanceof NativeUwsUnavailableError) {
      log.fatal(err.message);
      process.exit(1);
    }
    throw err;
  });
  const port = await gateway.start();
  log.info(
    { host: config.host, port },
    `tidings standalone listening on http://${config.host}:${port} (hub /notifications, ingest /api/notifications${inbox === undefined ? "" : ", inbox page /inbox"})`,
  );

  const storeWatch = watchStore(storeHandle, log);

  const metricsServer = await startOpsServer(
    config,
    registry,
    () =>
      !gateway.ready
        ? { ready: false, reason: "draining" }
        : storeWatch.reachable()
          ? { ready: true }
          : { ready: false, reason: "store unreachable" },
    log,
  );

  return {
    async stop() {
      await gateway.stop();
      storeWatch.stop();
      await sweeper.stop();
      await storeHandle.close();
      await metricsServer?.close();
      await tracing?.shutdown();
    },
  };
}

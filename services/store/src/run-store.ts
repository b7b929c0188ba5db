import { connectNatsBus, natsOptionsOf, type NatsBus } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import type { Logger, Registry } from "@tidings/observability";
import { createStore, type StoreHandle } from "./create-store.js";
import { createStoreResponder } from "./responder.js";
import { startExpirySweeper } from "./sweeper.js";

const STORE_PING_INTERVAL_MS = 5_000;
const STORE_PING_TIMEOUT_MS = 4_000;

export interface RunningStore {
  /** True while both the bus and the database answer: requests need both. */
  ready(): boolean;
  /** Stops answering (in-flight requests finish), stops the sweeper, then closes NATS and the database. */
  stop(): Promise<void>;
}

/** The store service (`TIDINGS_ROLE=store`): migrations, request-reply handlers on `tidings.v1.store.*`, expiry sweeper. */
export async function runStore(config: TidingsConfig, log: Logger, registry: Registry): Promise<RunningStore> {
  if (config.natsUrl === undefined) throw new Error("the store service needs TIDINGS_NATS_URL");
  const handle = await createStore({ ...storeOptionsOf(config), registry, logger: log });
  let bus: NatsBus;
  try {
    bus = await connectNatsBus(config.natsUrl, {
      name: "tidings-store",
      security: natsOptionsOf(config).security,
      onError: (err, subject) => log.error({ err, subject }, "bus handler failed"),
      onConnectionChange: (status, server) => log.warn({ status, server }, `NATS ${status}`),
    });
  } catch (err) {
    await handle.close();
    throw err;
  }
  const responder = createStoreResponder(bus, handle.store, { logger: log, ping: () => handle.ping() });
  const sweeper = startExpirySweeper(handle.store, log);
  const storeWatch = watchStore(handle, log);
  log.info({ embedded: handle.embedded }, "store service answering on tidings.v1.store.*");
  return {
    ready: () => !bus.connection.isClosed() && storeWatch.reachable(),
    async stop() {
      storeWatch.stop();
      await responder.close();
      await sweeper.stop();
      await bus.close();
      await handle.close();
    },
  };
}

/**
 * Runs a real query against the database every 5 s; `reachable()` is false from the first query that
 * fails or has no answer within 4 s until one succeeds, so `/readyz` reflects the database and not only
 * the bus. A frozen server (connections open, nothing answered) counts as unreachable too, and while a
 * query is unanswered no other is sent, so a frozen server does not collect one hung query every 5 s.
 */
export function watchStore(handle: StoreHandle, log: Logger): { reachable(): boolean; stop(): void } {
  let reachable = true;
  let pinging = false;
  const unreachable = (err: unknown): void => {
    if (reachable) log.warn({ err }, "store unreachable: readiness off");
    reachable = false;
  };
  const pinger = setInterval(() => {
    if (pinging) return;
    pinging = true;
    const timer = setTimeout(
      () => unreachable(new Error(`no answer from the database within ${STORE_PING_TIMEOUT_MS} ms`)),
      STORE_PING_TIMEOUT_MS,
    );
    timer.unref();
    handle
      .ping()
      .then(() => void (reachable = true), unreachable)
      .finally(() => {
        clearTimeout(timer);
        pinging = false;
      });
  }, STORE_PING_INTERVAL_MS);
  pinger.unref();
  return { reachable: () => reachable, stop: () => clearInterval(pinger) };
}

/** The database settings of the store, from the config. */
export function storeOptionsOf(config: TidingsConfig): {
  databaseUrl: string | undefined;
  dataDir: string;
  sslMode: TidingsConfig["databaseSslMode"];
  sslRootCert: string | undefined;
} {
  return {
    databaseUrl: config.databaseUrl,
    dataDir: config.dataDir,
    sslMode: config.databaseSslMode,
    sslRootCert: config.databaseSslRootCert,
  };
}

import { connectNatsBus, JetStreamIngestQueue, RegistryAnnouncer, type NatsBus } from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { BusNotificationStore, subjects, userAudience, type Notification } from "@tidings/contracts";
import { createGateway, NativeUwsUnavailableError } from "@tidings/gateway";
import { createRegistry, startTracing, type Logger, type Registry } from "@tidings/observability";
import { createIngestPublisher, natsOptionsOf, runRouter } from "@tidings/router";
import { createStore, createStoreResponder } from "@tidings/store";
import type { Running } from "./running.js";
import { startExpirySweeper, startOpsServer, storeOptionsOf, watchStore } from "./ops.js";

const decoder = new TextDecoder();
const encoder = new TextEncoder();

/** A user's read-state event on its way to every gateway node (`subjects.userEvents`). */
interface UserEvent {
  userId: string;
  target: string;
  payload: unknown;
}

async function connect(config: TidingsConfig, name: string, log: Logger): Promise<NatsBus> {
  const bus = await connectNatsBus(config.natsUrl!, { name, security: natsOptionsOf(config).security, onError: (err, subject) => log.error({ err, subject }, "bus handler failed") });
  void (async () => {
    for await (const s of bus.connection.status()) {
      if (s.type === "disconnect" || s.type === "reconnect") log.warn({ status: s.type }, `NATS ${s.type}`);
    }
  })();
  return bus;
}

/**
 * A gateway node (`TIDINGS_ROLE=gateway`): announces its audience memberships to the routers,
 * receives on `tidings.v1.node.<nodeId>` only what its connections need, publishes HTTP ingest to
 * JetStream (202 after the stream acked), reaches the store by request-reply, and forwards hub requests
 * to the node owning their connection (serving `tidings.v1.forward.<nodeId>` for its own).
 */
async function runGatewayNode(config: TidingsConfig, nodeId: string, log: Logger, registry: Registry): Promise<{ stop(): Promise<void>; ready(): boolean }> {
  const bus = await connect(config, `tidings-gateway-${nodeId}`, log);
  const queue = await JetStreamIngestQueue.create(bus.connection, {
    ...natsOptionsOf(config).queue,
    onError: (err) => log.error({ err }, "ingest queue error"),
  });
  const publish = createIngestPublisher(queue);
  const announcer = new RegistryAnnouncer({ bus, nodeId, heartbeatIntervalMs: config.registryHeartbeatSeconds * 1000 });
  let gateway: ReturnType<typeof createGateway>;
  try {
    gateway = createGateway({
      config,
      log,
      nodeId,
      registry,
      store: new BusNotificationStore(bus, { timeoutMs: config.forwardTimeoutSeconds * 1000 }),
      membership: announcer,
      bus, // hub requests for connections of other nodes are forwarded to their owners: no sticky sessions
      ingest: async (notifications, traceHeaders) => void (await publish(notifications, traceHeaders)),
      publishUserEvent: (userId, target, payload) =>
        bus.publish(subjects.userEvents, encoder.encode(JSON.stringify({ userId, target, payload } satisfies UserEvent))),
    });
  } catch (err) {
    await bus.close();
    if (err instanceof NativeUwsUnavailableError) {
      log.fatal(err.message);
      process.exit(1);
    }
    throw err;
  }
  const nodeSub = bus.subscribe(subjects.node(nodeId), (msg) => {
    gateway.deliver(JSON.parse(decoder.decode(msg.data)) as Notification, msg.headers);
  });
  const eventSub = bus.subscribe(subjects.userEvents, (msg) => {
    const e = JSON.parse(decoder.decode(msg.data)) as UserEvent;
    gateway.deliverEvent(userAudience(e.userId), e.target, e.payload);
  });
  await announcer.start();
  const port = await gateway.start();
  log.info({ host: config.host, port, nodeId }, `tidings gateway node listening on http://${config.host}:${port}`);
  return {
    ready: () => gateway.ready && !bus.connection.isClosed(),
    async stop() {
      await gateway.stop();
      nodeSub.unsubscribe();
      eventSub.unsubscribe();
      await announcer.stop();
      await bus.close();
    },
  };
}

/** The store service (`TIDINGS_ROLE=store`): migrations, request-reply handlers, expiry sweeper. */
async function runStoreService(config: TidingsConfig, log: Logger, registry: Registry): Promise<{ stop(): Promise<void>; ready(): boolean }> {
  const handle = await createStore({ ...storeOptionsOf(config), registry, logger: log });
  const bus = await connect(config, "tidings-store", log);
  const responder = createStoreResponder(bus, handle.store, { logger: log, ping: () => handle.ping() });
  const sweeper = startExpirySweeper(handle.store, log);
  const storeWatch = watchStore(handle, log);
  log.info({ embedded: handle.embedded }, "store service answering on tidings.v1.store.*");
  return {
    // Ready only while both the bus and the database answer: requests need both.
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
 * Cluster mode: the roles selected by TIDINGS_ROLE (`all` = gateway + router + store in this process,
 * talking over NATS exactly as separate processes do), metrics and health on TIDINGS_METRICS_PORT.
 */
export async function runCluster(config: TidingsConfig, nodeId: string, log: Logger): Promise<Running> {
  const tracing = startTracing({ serviceName: `tidings-${config.role}` });
  const registry = createRegistry(`tidings_${config.role === "all" ? "gateway" : config.role}_`);
  const parts: Array<{ name: string; stop(): Promise<void>; ready(): boolean }> = [];
  try {
    if (config.role === "store" || config.role === "all") parts.push({ name: "store", ...(await runStoreService(config, log, registry)) });
    if (config.role === "router" || config.role === "all") {
      const router = await runRouter(config, log, {
        metricsRegistry: registry,
        options: { registry: { heartbeatIntervalMs: config.registryHeartbeatSeconds * 1000 } },
      });
      parts.push({ name: "router", stop: () => router.stop(), ready: () => router.ready });
    }
    if (config.role === "gateway" || config.role === "all") parts.push({ name: "gateway", ...(await runGatewayNode(config, nodeId, log, registry)) });
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

import {
  connectNatsBus,
  createIngestPublisher,
  createPartitionedIngestPublisher,
  JetStreamIngestQueue,
  NATS_DEAD_CONNECTION_DETECTION_MS,
  natsOptionsOf,
  RegistryAnnouncer,
} from "@tidings/bus";
import type { TidingsConfig } from "@tidings/config";
import { BusNotificationStore, FRAMED_NODE_MESSAGES, subjects, userAudience, userEventCodec } from "@tidings/contracts";
import type { Logger, Registry } from "@tidings/observability";
import { createGateway, type Gateway, type GatewayDeps } from "./app.js";

/** Clock difference between a node and the store's database that the catch-up still covers. */
const CLOCK_SKEW_ALLOWANCE_MS = 10_000;

export interface RunningGateway {
  /** False while draining or when the NATS connection is closed. */
  ready(): boolean;
  /** Drains the sockets, then leaves the registry and closes the NATS connection. */
  stop(): Promise<void>;
}

/**
 * `createGateway(deps)` for a role runner that opened resources for it: when creating the gateway
 * throws (uWebSockets.js cannot load, a bad setting), `release` closes them before the error goes on.
 */
export async function createGatewayOrRelease(deps: GatewayDeps, release: () => Promise<void>): Promise<Gateway> {
  try {
    return createGateway(deps);
  } catch (err) {
    await release();
    throw err;
  }
}

/**
 * A gateway node (`TIDINGS_ROLE=gateway`): announces its audience memberships to the routers,
 * receives on `tidings.v1.node.<nodeId>` only what its connections need, publishes HTTP ingest to
 * JetStream (202 after the stream acked), reaches the store by request-reply, and forwards hub requests
 * to the node owning their connection (serving `tidings.v1.forward.<nodeId>` for its own). When its
 * NATS connection comes back after an outage, its connections are caught up from the store.
 * Throws `NativeUwsUnavailableError` when uWebSockets.js cannot load, with nothing left open.
 */
export async function runGateway(config: TidingsConfig, nodeId: string, log: Logger, registry: Registry): Promise<RunningGateway> {
  if (config.natsUrl === undefined) throw new Error("a gateway node needs TIDINGS_NATS_URL");
  const nats = natsOptionsOf(config);
  // Undefined until created below; the NATS status callback may run before that.
  let gateway: Gateway | undefined = undefined;
  const bus = await connectNatsBus(config.natsUrl, {
    name: `tidings-gateway-${nodeId}`,
    security: nats.security,
    onError: (err, subject) => log.error({ err, subject }, "bus handler failed"),
    onConnectionChange: (status, server) => {
      log.warn({ status, server }, `NATS ${status}`);
      // Still starting (the announcer is set before the gateway): nothing to catch up yet.
      if (gateway === undefined) return;
      if (status === "disconnect") {
        announcer.disconnected();
        gateway.busDisconnected();
      } else catchUpOnceRejoined("catch-up after the NATS outage failed");
    },
  });
  const queueOptions = { ...nats.queue, onError: (err: unknown) => log.error({ err }, "ingest queue error") };
  // With a partitioned registry, HTTP ingest goes straight to the partition of each audience.
  const publish =
    config.registryPartitions > 1
      ? createPartitionedIngestPublisher(
          await JetStreamIngestQueue.create(bus.connection, {
            ...queueOptions,
            stream: subjects.partitionStream,
            subjects: [subjects.partitionWildcard],
          }),
          config.registryPartitions,
        )
      : createIngestPublisher(await JetStreamIngestQueue.create(bus.connection, queueOptions));
  const announcer = new RegistryAnnouncer({
    bus,
    nodeId,
    heartbeatIntervalMs: config.registryHeartbeatSeconds * 1000,
    ackTimeoutMs: config.membershipAckTimeoutSeconds * 1000,
    // Routers send this node framed node messages (no JSON parse per notification here) once they know it reads them.
    nodeMessages: [FRAMED_NODE_MESSAGES],
    // Frozen or blocked past two heartbeats: routers may have dropped this node, with its NATS
    // connection intact. Its connections are caught up as after a NATS outage.
    onStalled: (lastHeartbeatMs) => {
      log.warn(
        { silentMs: Date.now() - lastHeartbeatMs },
        "registry heartbeats stalled: catching connections up once the routers know this node again",
      );
      gateway?.busDisconnected(lastHeartbeatMs);
      catchUpOnceRejoined("catch-up after the stall failed");
    },
  });
  /**
   * Routers that dropped this node (silent past three heartbeats) route its audiences to nobody until
   * they have its snapshot again, so the store is asked only after every router acknowledged it anew:
   * what they routed before is stored by then, what they route after arrives live. busReconnected
   * never rejects (each replay logs its own failure); the catch keeps that true.
   */
  function catchUpOnceRejoined(failure: string): void {
    void announcer
      .rejoined()
      .then(() => gateway?.busReconnected())
      .catch((err: unknown) => log.error({ err }, failure));
  }
  gateway = await createGatewayOrRelease(
    {
      config,
      log,
      nodeId,
      registry,
      store: new BusNotificationStore(bus, { timeoutMs: config.forwardTimeoutSeconds * 1000 }),
      membership: announcer,
      bus, // hub requests for connections of other nodes are forwarded to their owners: no sticky sessions
      ingest: async (notifications, traceHeaders) => void (await publish(notifications, traceHeaders)),
      publishUserEvent: (userId, target, payload) => bus.publish(subjects.userEvents, userEventCodec.encode({ userId, target, payload })),
      // Clock skew between this node and the store's database, on top of the detection time.
      busLookBackMs: NATS_DEAD_CONNECTION_DETECTION_MS + CLOCK_SKEW_ALLOWANCE_MS,
    },
    () => bus.close(),
  );
  const nodeSub = bus.subscribe(subjects.node(nodeId), (msg) => {
    gateway.deliverNodeMessage(msg.data, msg.headers);
  });
  const eventSub = bus.subscribe(subjects.userEvents, (msg) => {
    const e = userEventCodec.decode(msg.data);
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

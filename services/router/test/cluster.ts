/** Building blocks for router integration tests: router processes, simulated gateway nodes, a store. */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { RegistryAnnouncer, connectNatsBus, type NatsBus } from "@tidings/bus";
import {
  StoreRefusedError,
  notificationCodec,
  storeCodecs,
  subjects,
  type Bus,
  type BusMessage,
  type BusSubscription,
  type Notification,
  type NotificationStore,
  type StoreAnswer,
} from "@tidings/contracts";

const ROUTER = fileURLToPath(new URL("./fixtures/router-process.ts", import.meta.url));

export interface RouterProcess {
  readonly child: ChildProcess;
  /** SIGKILL: a crash, nothing acked after this instant. */
  kill(): Promise<void>;
  /** SIGTERM: a clean stop (in-flight work finishes and is acked). */
  stop(): Promise<void>;
}

/** Starts `runRouter` in a child process and resolves once it routes. */
export async function startRouterProcess(
  natsUrl: string,
  id: string,
  tuning: { ackWaitMs: number; heartbeatMs: number; maxInFlight?: number; partitions?: number },
): Promise<RouterProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", ROUTER], {
    env: {
      ...process.env,
      TIDINGS_ROLE: "router",
      TIDINGS_NATS_URL: natsUrl,
      TIDINGS_NODE_ID: id,
      TIDINGS_AUTH_ANONYMOUS: "true",
      TIDINGS_LOG_LEVEL: "error",
      TIDINGS_FORWARD_TIMEOUT_SECONDS: "2",
      ROUTER_ACK_WAIT_MS: String(tuning.ackWaitMs),
      ROUTER_HEARTBEAT_MS: String(tuning.heartbeatMs),
      ROUTER_MAX_IN_FLIGHT: String(tuning.maxInFlight ?? 64),
      TIDINGS_REGISTRY_PARTITIONS: String(tuning.partitions ?? 1),
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const onExit = (code: number | null) => reject(new Error(`router ${id} exited during start (${code})`));
    child.once("exit", onExit);
    child.stdout.on("data", (d: Buffer) => {
      if (d.toString().includes("ready")) {
        child.off("exit", onExit);
        resolve();
      }
    });
  });
  const signal = async (s: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(s);
    await exited;
  };
  return { child, kill: () => signal("SIGKILL"), stop: () => signal("SIGTERM") };
}

/** A simulated gateway node: announces audience keys and counts what arrives on its node subject. */
export class SimNode {
  private constructor(
    readonly nodeId: string,
    /** Every notification published on the node's subject, in arrival order. */
    readonly received: Notification[],
    readonly bus: NatsBus,
    readonly announcer: RegistryAnnouncer,
    private readonly sub: BusSubscription,
  ) {}

  static async start(natsUrl: string, nodeId: string, keys: string[], heartbeatMs: number): Promise<SimNode> {
    const bus = await connectNatsBus(natsUrl, { name: nodeId });
    const received: Notification[] = [];
    const sub = bus.subscribe(subjects.node(nodeId), (m: BusMessage) => void received.push(notificationCodec.decode(m.data)));
    const announcer = new RegistryAnnouncer({ bus, nodeId, heartbeatIntervalMs: heartbeatMs });
    for (const k of keys) announcer.add(k);
    await announcer.start();
    return new SimNode(nodeId, received, bus, announcer, sub);
  }

  ids(): string[] {
    return this.received.map((n) => n.id);
  }

  async stop(): Promise<void> {
    this.sub.unsubscribe();
    await this.announcer.stop();
    await this.bus.close();
  }
}

/**
 * Answers the store's `save` and `ping` requests (the `BusNotificationStore` protocol) from `store`,
 * as the store service would: a `StoreRefusedError` is answered with code `refused`.
 */
export function serveStore(bus: Bus, store: NotificationStore): { unsubscribe(): void } {
  const save = bus.subscribe(
    subjects.storeRequest("save"),
    async (m) => {
      if (m.reply === null) return;
      let answer: StoreAnswer<"save">;
      try {
        answer = { ok: true, value: await store.save(storeCodecs.save.request.decode(m.data)) };
      } catch (error) {
        answer = { ok: false, error: (error as Error).message, code: error instanceof StoreRefusedError ? "refused" : "unavailable" };
      }
      bus.publish(m.reply, storeCodecs.save.answer.encode(answer));
    },
    { queue: "store" },
  );
  const ping = bus.subscribe(
    subjects.storeRequest("ping"),
    (m) => {
      if (m.reply !== null) bus.publish(m.reply, storeCodecs.ping.answer.encode({ ok: true, value: true }));
    },
    { queue: "store" },
  );
  return {
    unsubscribe() {
      save.unsubscribe();
      ping.unsubscribe();
    },
  };
}

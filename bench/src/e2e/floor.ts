/**
 * The floor of the end-to-end harness: the cluster's topology with nothing of Tidings in it, run in
 * the same bench run on the same machine. One process per role, as in the cluster:
 * - `router`: the same durable JetStream pull consumer and explicit acks (through `@tidings/bus`'s
 *   `JetStreamIngestQueue`, as the router consumes), republishing each message's bytes unchanged
 *   with core NATS to every floor gateway (no decoding, no validation, no registry);
 * - `gateway` (one per port): a bare uWebSockets.js server answering the SignalR JSON handshake and
 *   `Subscribe` with fixed bytes, subscribed to its node subject; each message is wrapped in a
 *   SignalR invocation record and published to the uWS topic of its group (found by a byte search)
 *   or to everyone.
 * The producer and the latency clients are the cluster's own, unchanged. So a case's latency on the
 * floor is what the machine, nats-server, JetStream and the sockets cost at this rate with this many
 * busy processes; what the cluster adds above it is Tidings.
 */
import { childArgs, emit, serve } from "../proc.js";

export type FloorArgs = { role: "router"; natsUrl: string; nodes: number } | { role: "gateway"; natsUrl: string; node: number };

/** The node subject of floor gateway `i`. */
export const floorNodeSubject = (i: number) => `bench.floor.node.${i}`;

interface NatsConnection {
  publish(subject: string, data: Uint8Array): void;
  subscribe(subject: string, opts: { callback: (err: unknown, msg: { data: Uint8Array }) => void }): { unsubscribe(): void };
}
interface IngestMessage {
  data: Uint8Array;
  ack(): Promise<void>;
}
interface BusModule {
  connectNatsBus(url: string, opts?: { name?: string }): Promise<{ connection: NatsConnection; close(): Promise<void> }>;
  JetStreamIngestQueue: {
    create(
      nc: unknown,
    ): Promise<{ consume(handler: (m: IngestMessage) => Promise<void>, opts: { maxInFlight: number }): { stop(): Promise<void> } }>;
  };
}
interface UwsSocket {
  subscribe(topic: string): boolean;
  send(message: string | Uint8Array, isBinary?: boolean): number;
}
interface UwsApp {
  ws(pattern: string, behavior: Record<string, unknown>): UwsApp;
  listen(host: string, port: number, cb: (token: unknown) => void): UwsApp;
  publish(topic: string, message: Uint8Array, isBinary?: boolean): boolean;
}

const BUS_MODULE = new URL("../../../packages/bus/src/index.ts", import.meta.url).href;
/** the router's default concurrency */
const ROUTER_MAX_IN_FLIGHT = 64;
const RS = "\x1e";
const AUDIENCE_VALUE = Buffer.from('"audienceValue":"');
const QUOTE = 0x22;
const INVOCATION_HEAD = Buffer.from('{"type":1,"target":"notify","arguments":[');
const INVOCATION_TAIL = Buffer.from(`]}${RS}`);

const args = childArgs<FloorArgs>();

async function router(a: Extract<FloorArgs, { role: "router" }>): Promise<() => Promise<void>> {
  const bus = (await import(BUS_MODULE)) as BusModule;
  const nats = await bus.connectNatsBus(a.natsUrl, { name: "bench-floor-router" });
  const queue = await bus.JetStreamIngestQueue.create(nats.connection);
  const subjects = Array.from({ length: a.nodes }, (_, i) => floorNodeSubject(i));
  const consumer = queue.consume(
    (m) => {
      for (const s of subjects) nats.connection.publish(s, m.data);
      return m.ack();
    },
    { maxInFlight: ROUTER_MAX_IN_FLIGHT },
  );
  return async () => {
    await consumer.stop();
    await nats.close();
  };
}

async function gateway(a: Extract<FloorArgs, { role: "gateway" }>): Promise<{ port: number; close: () => Promise<void> }> {
  const { freePort } = await import("@tidings/testkit");
  const uws = (await import("uWebSockets.js")).default as unknown as { App(): UwsApp };
  const port = await freePort();
  const app = uws.App();
  app.ws("/*", {
    idleTimeout: 0,
    sendPingsAutomatically: false,
    maxBackpressure: 4 * 1024 * 1024,
    message: (ws: UwsSocket, message: ArrayBuffer) => {
      const text = Buffer.from(message).toString("utf8");
      if (text.includes('"protocol"')) {
        ws.subscribe("global");
        ws.send(`{}${RS}`);
      } else if (text.includes('"Subscribe"')) {
        const group = /"audienceValue":"([^"]*)"/.exec(text)?.[1] ?? "";
        ws.subscribe(`g|${group}`);
        ws.send(`{"type":3,"invocationId":"1","result":null}${RS}`);
      }
    },
  });
  await new Promise<void>((resolve, reject) =>
    app.listen("127.0.0.1", port, (token) => (token ? resolve() : reject(new Error(`floor gateway: cannot listen on ${port}`)))),
  );
  const bus = (await import(BUS_MODULE)) as BusModule;
  const nats = await bus.connectNatsBus(a.natsUrl, { name: `bench-floor-gateway-${a.node}` });
  const sub = nats.connection.subscribe(floorNodeSubject(a.node), {
    callback: (_err, msg) => {
      const data = Buffer.from(msg.data.buffer, msg.data.byteOffset, msg.data.byteLength);
      const at = data.indexOf(AUDIENCE_VALUE);
      const topic =
        at === -1 ? "global" : `g|${data.toString("utf8", at + AUDIENCE_VALUE.length, data.indexOf(QUOTE, at + AUDIENCE_VALUE.length))}`;
      app.publish(topic, Buffer.concat([INVOCATION_HEAD, data, INVOCATION_TAIL]), false);
    },
  });
  return {
    port,
    close: async () => {
      sub.unsubscribe();
      await nats.close();
    },
  };
}

async function main(): Promise<void> {
  if (args.role === "router") {
    const close = await router(args);
    serve({ close });
    emit("ready", { pid: process.pid });
  } else {
    const g = await gateway(args);
    serve({ close: g.close });
    emit("ready", { pid: process.pid, port: g.port });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`bench floor ${args.role}: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

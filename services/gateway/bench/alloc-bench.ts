/**
 * Bytes allocated per notification in a gateway node on its cluster path: `NatsBus.subscribe` on the
 * node subject → `NodeMessage.read` → process span → `Fanout.deliverMessage`, as run-gateway and the
 * app wire it, with 1,000 connections joined (each to its user audience and one of 10 groups) behind a
 * stub topic publisher. A child process publishes N framed node messages (as a router does) over core
 * NATS; V8's sampling heap profiler runs in this process while they are received.
 *
 *   ALLOC_AUDIENCE=group|user ALLOC_N=50000 node --expose-gc --import tsx bench/alloc-bench.ts
 */
import { fork, spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import { connectNatsBus } from "@tidings/bus";
import { NodeMessage, encodeFramedNodeMessage, validateEnvelope, type Notification } from "@tidings/contracts";
import { Registry, endSpan, startProcessSpan } from "@tidings/observability";
import { jsonProtocol } from "@tidings/protocol";
import { startNats } from "@tidings/testkit";
import { printReport, startSampling } from "../../router/bench/heap-sampling.js";
import type { HubConnection } from "../src/connection.js";
import type { ConnectionTable } from "../src/connection-table.js";
import type { EncodeFailures } from "../src/encode-failures.js";
import { Fanout } from "../src/fanout.js";
import { createGatewayMetrics } from "../src/metrics.js";
import { startGateway } from "../test/harness.js";

const N = Number(process.env["ALLOC_N"] ?? 50_000);
const AUDIENCE = process.env["ALLOC_AUDIENCE"] ?? "group";
const SUBJECT = "tidings.v1.node.gw-alloc";
const GROUPS = 10;
/** With ALLOC_SOCKETS > 0 (Global audience): the real gateway app and that many WebSocket clients in a child process. */
const SOCKETS = Number(process.env["ALLOC_SOCKETS"] ?? 0);
const USERS = 1000;

function notification(seq: number, t0: number): Notification {
  if (AUDIENCE === "global") {
    const r = validateEnvelope(
      {
        id: `alloc-${seq}`,
        type: "bench",
        body: { benchCase: 1, benchSeq: seq, benchTs: t0 + seq },
        routing: { audienceType: 1 },
        metadata: { producer: "bench-e2e" },
      },
      { now: new Date(t0), defaultTtlSeconds: 60, maxNotificationBytes: 65536 },
    );
    if (!r.ok) throw new Error("bench envelope invalid");
    return r.notification;
  }
  const [audienceType, audienceValue] = AUDIENCE === "group" ? [3, `g-${seq % GROUPS}`] : [4, `u-${seq % USERS}`];
  return {
    id: `alloc-${seq}`,
    type: "bench",
    body: { benchCase: 1, benchSeq: seq, benchTs: t0 + seq },
    routing: { audienceType, audienceValue, tenantId: null, audienceId: `${audienceType === 3 ? "group" : "user"}:${audienceValue}` },
    metadata: { producer: "bench-e2e", timeStamp: new Date(t0).toISOString(), isPersisted: false, persistedTTL: null },
  } as Notification;
}

if (process.env["ALLOC_PRODUCER_URL"] !== undefined) {
  // The router's side: framed node messages, in bursts of 500 every 10 ms (50,000/s).
  const bus = await connectNatsBus(process.env["ALLOC_PRODUCER_URL"]);
  const t0 = Date.now();
  for (let i = 0; i < N; i += 500) {
    for (let j = i; j < Math.min(N, i + 500); j++) bus.publish(SUBJECT, encodeFramedNodeMessage(notification(j, t0)));
    await bus.flush();
    await new Promise((r) => setTimeout(r, 10));
  }
  await bus.close();
  process.exit(0);
}

if (process.env["ALLOC_SOCKETS_URL"] !== undefined) {
  // Clients of the real gateway: JSON handshakes, frames counted and dropped.
  const { RawWs } = await import("@tidings/testkit");
  const sockets = await Promise.all(
    Array.from({ length: SOCKETS }, async () => {
      const raw = await RawWs.open(`${process.env["ALLOC_SOCKETS_URL"]}/notifications`);
      raw.send(`{"protocol":"json","version":1}\u001e`);
      return raw;
    }),
  );
  let frames = 0;
  setInterval(() => {
    for (const raw of sockets) {
      frames += raw.frames.length;
      raw.frames.length = 0;
    }
  }, 100);
  setInterval(() => console.log(`clients: ${frames} frames`), 5000);
  process.send?.("ready");
  await new Promise(() => undefined);
}

const nats = await startNats();
try {
  const subscribers = new Map<string, number>();
  let published = 0;
  const publisher = {
    publish: (topic: string) => {
      published++;
      return (subscribers.get(topic) ?? 0) > 0;
    },
    numSubscribers: (topic: string) => subscribers.get(topic) ?? 0,
  };
  const transport = {
    subscribe: (topic: string) => void subscribers.set(topic, (subscribers.get(topic) ?? 0) + 1),
    unsubscribe: (topic: string) => void subscribers.set(topic, (subscribers.get(topic) ?? 0) - 1),
  };
  const metrics = createGatewayMetrics(new Registry(), () => []);
  const fanout = new Fanout(publisher, {} as ConnectionTable, 120_000, metrics, { report: () => undefined } as unknown as EncodeFailures);
  for (let u = 0; u < USERS; u++) {
    const connection = { audiences: new Set<string>(), protocol: jsonProtocol, transport } as unknown as HubConnection;
    fanout.join(connection, `user:u-${u}`);
    fanout.join(connection, `group:g-${u % GROUPS}`);
  }
  // The app's deliverMessage, as run-gateway's subscription calls it.
  let deliverNodeMessage = (data: Uint8Array, headers: Readonly<Record<string, string>> | null): boolean => {
    const message = NodeMessage.read(data);
    const span = startProcessSpan(SUBJECT, headers);
    if (span.isRecording()) span.setAttribute("messaging.message.id", message.id);
    const delivered = fanout.deliverMessage(message, Date.now());
    span.setAttribute("tidings.duplicate", !delivered);
    endSpan(span);
    return delivered;
  };
  let clients: ChildProcess | null = null;
  if (SOCKETS > 0) {
    const gw = await startGateway({ TIDINGS_AUTH_ANONYMOUS: "true" });
    deliverNodeMessage = (data, headers) => gw.gateway.deliverNodeMessage(data, headers);
    clients = fork(fileURLToPath(import.meta.url), [], {
      env: { ...process.env, ALLOC_SOCKETS_URL: gw.url.replace("http", "ws") },
      execArgv: ["--import", "tsx"],
    });
    await new Promise((r) => clients!.once("message", r));
    await new Promise((r) => setTimeout(r, 1000));
  }
  const bus = await connectNatsBus(nats.url);
  let received = 0;
  let done: () => void = () => undefined;
  const finished = new Promise<void>((r) => (done = r));
  bus.subscribe(SUBJECT, (msg) => {
    deliverNodeMessage(msg.data, msg.headers);
    if (++received === N) done();
  });
  await bus.flush();
  (globalThis as { gc?: () => void }).gc?.();
  const stop = await startSampling();
  const cpu0 = process.cpuUsage();
  const producer = spawn(process.execPath, ["--import", "tsx", fileURLToPath(import.meta.url)], {
    env: { ...process.env, ALLOC_PRODUCER_URL: nats.url },
    stdio: "inherit",
  });
  const progress = setInterval(() => console.log(`received ${received}`), 2000);
  await finished;
  clearInterval(progress);
  const cpu = process.cpuUsage(cpu0);
  const report = await stop();
  printReport(`gateway ${AUDIENCE}`, report, N, Number(process.env["ALLOC_TOP"] ?? 15));
  console.log(`  ${published} topic publishes; cpu ${((cpu.user + cpu.system) / N).toFixed(1)} µs per notification (profiler on)`);
  await new Promise((r) => producer.once("exit", r));
  clients?.kill();
  await bus.close();
} finally {
  await nats.stop();
}

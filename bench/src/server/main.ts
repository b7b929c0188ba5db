/**
 * One benchmark server in its own process: the Tidings gateway, a bare uWebSockets.js topic-publish
 * server, a `ws` server looping over its clients, or a Socket.IO room broadcast. Driven over IPC by
 * the orchestrator; measures its own CPU with `process.cpuUsage()`.
 */
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@tidings/config";
import type { Notification } from "@tidings/contracts";
import { createGateway, loadNativeUws, type Gateway } from "@tidings/gateway";
import { silentLogger } from "@tidings/observability";
import { HANDSHAKE_OK } from "@tidings/protocol";
import { freePort } from "@tidings/testkit";
import { Server as SocketIoServer } from "socket.io";
import type { WebSocket as UwsSocket } from "uWebSockets.js";
import { WebSocketServer, type WebSocket } from "ws";
import { childArgs, emit, serve } from "../proc.js";
import { BENCH_TYPE, benchDelivered, benchFrame, benchNotifications } from "../payload.js";
import { verifyHs256 } from "./hs256.js";

export type ServerKind = "gateway" | "uws" | "ws" | "socketio";

export interface ServerArgs {
  kind: ServerKind;
  /** jwt: HS256 tokens required (gateway: jose; uws: node:crypto reference check); anonymous: none */
  auth: "jwt" | "anonymous";
  secret: string;
  /** uws only: also subscribe each socket to a topic of its own, as the gateway does for a user */
  perSocketTopic?: boolean;
  /** when profiling: where to write the measurement windows (profile clock, µs) at exit */
  profileWindowsFile?: string;
}

export interface CpuWindow {
  userUs: number;
  systemUs: number;
  wallMs: number;
}

export interface MemorySample {
  rss: number;
  heapUsed: number;
  external: number;
  arrayBuffers: number;
  connections: number;
}

export interface PrepareArgs {
  count: number;
  /** one-receiver mode: notifications go to these users round robin (gateway: User audiences; bare uWS: one topic per socket) */
  users?: string[];
}

interface Impl {
  port: number;
  connections(): number;
  prepare(a: PrepareArgs): void;
  publish(n: number): void;
}

const args = childArgs<ServerArgs>();

async function startGateway(): Promise<Impl> {
  const port = await freePort();
  const config = loadConfig({
    TIDINGS_PORT: String(port),
    TIDINGS_HOST: "127.0.0.1",
    TIDINGS_METRICS_PORT: "0",
    TIDINGS_AUTH_JWT_SECRET: args.secret,
    TIDINGS_AUTH_ANONYMOUS: args.auth === "anonymous" ? "true" : "false",
    // connect-rate reuses a pool of tokens; the per-user cap is not what is measured
    TIDINGS_MAX_CONNECTIONS_PER_USER: "1000000",
  });
  const gateway: Gateway = createGateway({
    config,
    log: silentLogger(),
    nodeId: `bench-${process.pid}`,
    ingest: async (ns) => {
      for (const n of ns) gateway.deliver(n);
    },
  });
  await gateway.start();
  let notifications: Notification[] = [];
  let next = 0;
  return {
    port,
    connections: () => gateway.connectionCount,
    prepare({ count, users }) {
      notifications = benchNotifications(count, users);
      next = 0;
    },
    publish(n) {
      if (next + n > notifications.length) throw new Error(`only ${notifications.length} notifications prepared`);
      for (let i = 0; i < n; i++) gateway.deliver(notifications[next++]!);
    },
  };
}

async function startUws(): Promise<Impl> {
  const uws = loadNativeUws();
  const port = await freePort();
  const app = uws.App();
  const secret = Buffer.from(args.secret);
  const frames = { json: benchFrame("json"), msgpack: benchFrame("msgpack") };
  let open = 0;
  let socketSeq = 0;
  interface Data {
    handshaken: boolean;
  }
  app.ws<Data>("/*", {
    maxPayloadLength: 4 * 1024 * 1024,
    idleTimeout: 0,
    sendPingsAutomatically: false,
    maxBackpressure: 2 * 1024 * 1024,
    closeOnBackpressureLimit: 1,
    upgrade: (res, req, context) => {
      const key = req.getHeader("sec-websocket-key");
      const protocol = req.getHeader("sec-websocket-protocol");
      const extensions = req.getHeader("sec-websocket-extensions");
      if (args.auth === "jwt") {
        const token = /(?:^|&)access_token=([^&]*)/.exec(req.getQuery() ?? "")?.[1];
        if (token === undefined || verifyHs256(decodeURIComponent(token), secret, Date.now() / 1000) === null) {
          res.writeStatus("401 Unauthorized").end();
          return;
        }
      }
      res.upgrade<Data>({ handshaken: false }, key, protocol, extensions, context);
    },
    message: (ws: UwsSocket<Data>, message: ArrayBuffer) => {
      const data = ws.getUserData();
      if (data.handshaken) return;
      data.handshaken = true;
      open++;
      // The SignalR handshake request names the protocol; answer as the gateway does and join the topic.
      const msgpack = Buffer.from(message).includes("messagepack");
      ws.subscribe(msgpack ? "m|global" : "j|global");
      if (args.perSocketTopic === true) ws.subscribe(`u|${++socketSeq}`);
      ws.send(HANDSHAKE_OK, msgpack);
    },
    close: (ws: UwsSocket<Data>) => {
      if (ws.getUserData().handshaken) open--;
    },
  });
  await new Promise<void>((resolve, reject) => {
    app.listen("127.0.0.1", port, (socket) => (socket === false ? reject(new Error(`cannot listen on ${port}`)) : resolve()));
  });
  let users = 0;
  let userFrame: Uint8Array = frames.json;
  let nextUser = 0;
  return {
    port,
    connections: () => open,
    prepare(a) {
      users = a.users?.length ?? 0;
      if (a.users !== undefined && a.users.length > 0) userFrame = benchFrame("json", a.users[0]);
    },
    publish(n) {
      if (users > 0) {
        // one subscriber per topic (`u|1` … `u|N`, see `message` above), as a User audience on the gateway
        for (let i = 0; i < n; i++) app.publish(`u|${(nextUser++ % users) + 1}`, userFrame, false);
        return;
      }
      const json = app.numSubscribers("j|global") > 0;
      const msgpack = app.numSubscribers("m|global") > 0;
      for (let i = 0; i < n; i++) {
        if (json) app.publish("j|global", frames.json, false);
        if (msgpack) app.publish("m|global", frames.msgpack, true);
      }
    },
  };
}

async function startWs(): Promise<Impl> {
  const port = await freePort();
  const clients = new Set<WebSocket>();
  const frame = Buffer.from(benchFrame("json"));
  const handshakeOk = Buffer.from(HANDSHAKE_OK);
  const wss = new WebSocketServer({ host: "127.0.0.1", port, perMessageDeflate: false, clientTracking: false });
  wss.on("connection", (ws) => {
    ws.once("message", () => {
      ws.send(handshakeOk, { binary: false });
      clients.add(ws);
    });
    ws.on("close", () => clients.delete(ws));
    ws.on("error", () => clients.delete(ws));
  });
  await new Promise<void>((resolve) => wss.once("listening", resolve));
  return {
    port,
    connections: () => clients.size,
    prepare: () => undefined,
    publish(n) {
      for (let i = 0; i < n; i++) for (const ws of clients) ws.send(frame, { binary: false });
    },
  };
}

async function startSocketIo(): Promise<Impl> {
  const port = await freePort();
  const http = createServer();
  const io = new SocketIoServer(http, { transports: ["websocket"], serveClient: false, perMessageDeflate: false });
  let open = 0;
  io.on("connection", (socket) => {
    void socket.join("global");
    open++;
    socket.on("disconnect", () => open--);
  });
  await new Promise<void>((resolve) => http.listen(port, "127.0.0.1", resolve));
  const delivered = benchDelivered();
  return {
    port: (http.address() as AddressInfo).port,
    connections: () => open,
    prepare: () => undefined,
    publish(n) {
      for (let i = 0; i < n; i++) io.to("global").emit(BENCH_TYPE, delivered);
    },
  };
}

function memory(impl: Impl): MemorySample {
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers, connections: impl.connections() };
}

function fdLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = Number(line?.split(/\s{2,}/)[1]);
  return Number.isFinite(soft) ? soft : 1024;
}

async function main(): Promise<void> {
  const starters: Record<ServerKind, () => Promise<Impl>> = { gateway: startGateway, uws: startUws, ws: startWs, socketio: startSocketIo };
  const impl = await starters[args.kind]();
  let cpuFrom = process.cpuUsage();
  let wallFrom = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  // V8 profile timestamps and hrtime share the monotonic clock (µs)
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const windows: Array<[number, number]> = [];
  let windowFrom = 0;
  const windowsFile = args.profileWindowsFile;
  if (windowsFile !== undefined) process.on("exit", () => writeFileSync(windowsFile, JSON.stringify(windows)));
  serve({
    prepare: (a) => impl.prepare(a as PrepareArgs),
    publish: (a) => impl.publish((a as { n: number }).n),
    cpuStart: () => {
      cpuFrom = process.cpuUsage();
      wallFrom = performance.now();
      windowFrom = nowUs();
    },
    cpuStop: (): CpuWindow => {
      const d = process.cpuUsage(cpuFrom);
      windows.push([windowFrom, nowUs()]);
      return { userUs: d.user, systemUs: d.system, wallMs: performance.now() - wallFrom };
    },
    connections: () => impl.connections(),
    memory: () => memory(impl),
    /** full GCs with pauses in between, so freed memory is really freed before RSS is read */
    gc: async (): Promise<MemorySample> => {
      if (gc === undefined) throw new Error("start the server with --expose-gc");
      for (let i = 0; i < 3; i++) {
        gc();
        await new Promise((r) => setTimeout(r, 200));
      }
      return memory(impl);
    },
    fds: () => ({ open: readdirSync("/proc/self/fd").length, limit: fdLimit() }),
  });
  emit("ready", { port: impl.port, pid: process.pid });
}

main().catch((err: unknown) => {
  process.stderr.write(`bench server (${args.kind}) failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});

/**
 * One benchmark server in its own process: the Tidings gateway, a bare uWebSockets.js topic-publish
 * server, a `ws` server looping over its clients, a Socket.IO room broadcast, or a Centrifugo process
 * (started and fed over its HTTP API by this process). Driven over IPC by the orchestrator; measures
 * its own CPU with `process.cpuUsage()` (Centrifugo: the Go process's, from /proc/<pid>/stat).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { Agent, createServer, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { AddressInfo } from "node:net";
import { loadConfig } from "@tidings/config";
import { encodeFramedNodeMessage, notificationCodec, type Notification } from "@tidings/contracts";
import { createGateway, loadNativeUws, type Gateway } from "@tidings/gateway";
import { silentLogger } from "@tidings/observability";
import { HANDSHAKE_OK } from "@tidings/protocol";
import { freePort } from "@tidings/testkit";
import { Server as SocketIoServer } from "socket.io";
import type { WebSocket as UwsSocket } from "uWebSockets.js";
import { WebSocketServer, type WebSocket } from "ws";
import { childArgs, emit, serve } from "../proc.js";
import {
  BENCH_TYPE,
  benchDelivered,
  benchFrame,
  benchNotifications,
  userFrame as writeUserFrame,
  type BenchUserEnvelope,
} from "../payload.js";
import { verifyHs256 } from "./hs256.js";
import { CENTRIFUGO_CHANNEL } from "../client/frames.js";
import { CENTRIFUGO_API_KEY, centrifugoBinary, centrifugoConfig, procCpuUs, procRss } from "./centrifugo.js";

export type ServerKind = "gateway" | "uws" | "ws" | "socketio" | "centrifugo";
export type NodeMessageFormat = "framed" | "json";

export interface ServerArgs {
  kind: ServerKind;
  /** jwt: HS256 tokens required (gateway: jose; uws: node:crypto reference check); anonymous: none */
  auth: "jwt" | "anonymous";
  secret: string;
  /** uws only: also subscribe each socket to a topic of its own, as the gateway does for a user */
  perSocketTopic?: boolean;
  /**
   * uws only, with jwt and `perSocketTopic`: each socket's topic is its token's subject, and each
   * notification's frame is written (`userFrame`) from what was received (the HTTP handler: the envelope;
   * in process: the validated notification, as the gateway's `deliver` gets it) and published to its
   * user's topic, instead of one pre-encoded frame round robin
   */
  frameReceived?: boolean;
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
  /**
   * gateway: deliver each notification from the node-message bytes a router publishes (`framed`, or the
   * notification's JSON as routers send nodes that do not read framed messages), read by the gateway as
   * a cluster gateway node does; absent: the notification object, as the standalone process delivers
   */
  wire?: NodeMessageFormat;
}

interface Impl {
  port: number;
  connections(): number | Promise<number>;
  prepare(a: PrepareArgs): void;
  publish(n: number): void;
  /** another process does the serving (Centrifugo): its CPU (µs, cumulative) and RSS instead of ours */
  cpu?: () => { userUs: number; systemUs: number };
  rss?: () => number;
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
  /**
   * Node messages (wire mode): views of one buffer holding them one after another, as a NATS client hands
   * over views of its read buffer. Made in `prepare`: making them is the NATS client's work, not the gateway's.
   */
  let wires: Uint8Array[] | null = null;
  let count = 0;
  let next = 0;
  return {
    port,
    connections: () => gateway.connectionCount,
    prepare(a) {
      count = a.count;
      next = 0;
      notifications = benchNotifications(count, a.users);
      wires = null;
      if (a.wire === undefined) return;
      // What a router publishes to a gateway node; delivered as plain Uint8Arrays, as a NATS subscriber receives them.
      const encode = a.wire === "framed" ? encodeFramedNodeMessage : (n: Notification) => notificationCodec.encode(n);
      const encoded = notifications.map(encode);
      notifications = [];
      const all = new Uint8Array(encoded.reduce((sum, bytes) => sum + bytes.byteLength, 0));
      let at = 0;
      wires = encoded.map((bytes) => {
        all.set(bytes, at);
        return all.subarray(at, (at += bytes.byteLength));
      });
    },
    publish(n) {
      if (next + n > count) throw new Error(`only ${count} notifications prepared`);
      if (wires === null) for (let i = 0; i < n; i++) gateway.deliver(notifications[next++]!);
      else for (let i = 0; i < n; i++) gateway.deliverNodeMessage(wires[next++]!);
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
    /** the token's subject (jwt) */
    user: string;
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
      let user = "";
      if (args.auth === "jwt") {
        const token = /(?:^|&)access_token=([^&]*)/.exec(req.getQuery() ?? "")?.[1];
        const subject = token === undefined ? null : verifyHs256(decodeURIComponent(token), secret, Date.now() / 1000);
        if (subject === null) {
          res.writeStatus("401 Unauthorized").end();
          return;
        }
        user = subject;
      }
      res.upgrade<Data>({ handshaken: false, user }, key, protocol, extensions, context);
    },
    message: (ws: UwsSocket<Data>, message: ArrayBuffer) => {
      const data = ws.getUserData();
      if (data.handshaken) return;
      data.handshaken = true;
      open++;
      // The SignalR handshake request names the protocol; answer as the gateway does and join the topic.
      const msgpack = Buffer.from(message).includes("messagepack");
      ws.subscribe(msgpack ? "m|global" : "j|global");
      if (args.perSocketTopic === true) ws.subscribe(args.frameReceived === true ? `u|${data.user}` : `u|${++socketSeq}`);
      ws.send(HANDSHAKE_OK, msgpack);
    },
    close: (ws: UwsSocket<Data>) => {
      if (ws.getUserData().handshaken) open--;
    },
  });
  let users = 0;
  let userFrame: Uint8Array = frames.json;
  let nextUser = 0;
  /** `frameReceived` in process: validated notifications, each written into its frame at publish */
  let notifications: Notification[] = [];
  const publish = (n: number) => {
    if (args.frameReceived === true) {
      for (let i = 0; i < n; i++) {
        const { id, type, body, routing, metadata } = notifications[nextUser++]!;
        const user = routing.audienceValue;
        app.publish(`u|${user}`, writeUserFrame(id, type, body, user, metadata.producer, metadata.timeStamp), false);
      }
      return;
    }
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
  };
  // The HTTP-ingest baseline: read the body, JSON.parse it (any ingest must), publish the pre-encoded
  // frames (or, `frameReceived`, each envelope's own frame to its user) synchronously in uWS's own data
  // callback, answer 202.
  app.post("/publish", (res) => {
    const chunks: Buffer[] = [];
    res.onAborted(() => undefined);
    res.onData((chunk, isLast) => {
      chunks.push(Buffer.from(chunk.slice(0)));
      if (!isLast) return;
      const envelopes = JSON.parse(Buffer.concat(chunks).toString("utf8")) as BenchUserEnvelope[];
      const n = envelopes.length;
      if (args.frameReceived === true) {
        const timeStamp = new Date().toISOString();
        for (const e of envelopes) {
          const user = e.routing.audienceValue;
          app.publish(`u|${user}`, writeUserFrame(e.id, e.type, e.body, user, e.metadata.producer, timeStamp), false);
        }
      } else publish(n);
      res.writeStatus("202 Accepted").end(`{"accepted":${n}}`);
    });
  });
  await new Promise<void>((resolve, reject) => {
    app.listen("127.0.0.1", port, (socket) => (socket === false ? reject(new Error(`cannot listen on ${port}`)) : resolve()));
  });
  return {
    port,
    connections: () => open,
    prepare(a) {
      users = a.users?.length ?? 0;
      nextUser = 0;
      if (a.users !== undefined && a.users.length > 0) userFrame = benchFrame("json", a.users[0]);
      if (args.frameReceived === true) notifications = benchNotifications(a.count, a.users);
    },
    publish,
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

/**
 * Centrifugo v6 as its own Go process. Anonymous clients subscribe to one channel; a burst of n
 * notifications is one `POST /api/batch` with n `publish` commands (the HTTP API is Centrifugo's
 * publish path, so its cost is in the measured CPU). The data is the delivered object Socket.IO emits.
 */
async function startCentrifugo(): Promise<Impl> {
  const bin = centrifugoBinary();
  if (bin === null) throw new Error("centrifugo binary not found ($CENTRIFUGO_BIN, ~/go/bin/centrifugo, PATH)");
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "bench-centrifugo-"));
  const configFile = join(dir, "config.json");
  writeFileSync(configFile, JSON.stringify(centrifugoConfig(port)));
  const proc = spawn(bin, ["--config", configFile], { stdio: ["ignore", "ignore", "inherit"] });
  const pid = proc.pid;
  if (pid === undefined) throw new Error("centrifugo did not start");
  const stop = () => {
    if (proc.exitCode === null) proc.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  };
  process.on("exit", stop);
  // our own exit kills it synchronously (above), so this only fires when Centrifugo dies by itself
  proc.once("exit", (code, signal) => {
    process.stderr.write(`centrifugo exited (code ${code ?? "-"}, signal ${signal ?? "-"})\n`);
    process.exit(1);
  });
  const agent = new Agent({ keepAlive: true, maxSockets: 8 });
  const call = (path: string, body: string | Buffer): Promise<{ status: number; text: string }> =>
    new Promise((resolve, reject) => {
      const req = request(
        {
          host: "127.0.0.1",
          port,
          path,
          method: "POST",
          agent,
          headers: { "content-type": "application/json", "x-api-key": CENTRIFUGO_API_KEY },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  const deadline = Date.now() + 10_000;
  for (;;) {
    const ok = await call("/health", "").then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) break;
    if (Date.now() > deadline) throw new Error("centrifugo not healthy after 10 s");
    await new Promise((r) => setTimeout(r, 50));
  }
  const data = JSON.stringify(benchDelivered());
  const bodies = new Map<number, Buffer>();
  const bodyFor = (n: number): Buffer => {
    let b = bodies.get(n);
    if (b === undefined) {
      const command = `{"publish":{"channel":"${CENTRIFUGO_CHANNEL}","data":${data}}}`;
      b = Buffer.from(`{"commands":[${Array.from({ length: n }, () => command).join(",")}]}`);
      bodies.set(n, b);
    }
    return b;
  };
  let failures = 0;
  return {
    port,
    async connections() {
      const r = await call("/api/channels", "{}");
      const parsed = JSON.parse(r.text) as { result?: { channels?: Record<string, { num_clients?: number }> } };
      return parsed.result?.channels?.[CENTRIFUGO_CHANNEL]?.num_clients ?? 0;
    },
    prepare: () => undefined,
    publish(n) {
      call("/api/batch", bodyFor(n)).then(
        (r) => {
          if (r.status !== 200 || r.text.includes('"error"')) {
            if (failures++ < 5) process.stderr.write(`centrifugo publish failed: ${r.status} ${r.text.slice(0, 200)}\n`);
          }
        },
        (err: unknown) => {
          if (failures++ < 5) process.stderr.write(`centrifugo publish failed: ${String(err)}\n`);
        },
      );
    },
    cpu: () => procCpuUs(pid),
    rss: () => procRss(pid),
  };
}

async function memory(impl: Impl): Promise<MemorySample> {
  const m = process.memoryUsage();
  return {
    rss: impl.rss?.() ?? m.rss,
    heapUsed: m.heapUsed,
    external: m.external,
    arrayBuffers: m.arrayBuffers,
    connections: await impl.connections(),
  };
}

function fdLimit(): number {
  const line = readFileSync("/proc/self/limits", "utf8")
    .split("\n")
    .find((l) => l.startsWith("Max open files"));
  const soft = Number(line?.split(/\s{2,}/)[1]);
  return Number.isFinite(soft) ? soft : 1024;
}

async function main(): Promise<void> {
  const starters: Record<ServerKind, () => Promise<Impl>> = {
    gateway: startGateway,
    uws: startUws,
    ws: startWs,
    socketio: startSocketIo,
    centrifugo: startCentrifugo,
  };
  const impl = await starters[args.kind]();
  const cpuNow = impl.cpu;
  let cpuFrom = process.cpuUsage();
  let otherFrom = cpuNow?.() ?? { userUs: 0, systemUs: 0 };
  let wallFrom = performance.now();
  const gc = (globalThis as { gc?: () => void }).gc;
  // V8 profile timestamps and hrtime share the monotonic clock (µs)
  const nowUs = () => Number(process.hrtime.bigint() / 1000n);
  const windows: Array<[number, number]> = [];
  let windowFrom = 0;
  const windowsFile = args.profileWindowsFile;
  if (windowsFile !== undefined) process.on("exit", () => writeFileSync(windowsFile, JSON.stringify(windows)));
  serve({
    prepare: (a) => {
      impl.prepare(a as PrepareArgs);
      // The preparation's garbage is collected now, not by collections during the measurement.
      gc?.();
    },
    publish: (a) => impl.publish((a as { n: number }).n),
    cpuStart: () => {
      cpuFrom = process.cpuUsage();
      if (cpuNow !== undefined) otherFrom = cpuNow();
      wallFrom = performance.now();
      windowFrom = nowUs();
    },
    cpuStop: (): CpuWindow => {
      windows.push([windowFrom, nowUs()]);
      if (cpuNow !== undefined) {
        const o = cpuNow();
        return { userUs: o.userUs - otherFrom.userUs, systemUs: o.systemUs - otherFrom.systemUs, wallMs: performance.now() - wallFrom };
      }
      const d = process.cpuUsage(cpuFrom);
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

import { createServer, connect, type Server, type Socket } from "node:net";

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const address = srv.address();
      srv.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/**
 * A TCP proxy between a client and a server on loopback. `freezeDownstream()` stops forwarding
 * server→client bytes while keeping the sockets open: the client sees a server that went silent.
 */
export class TcpProxy {
  #frozen = false;
  #delayMs = 0;
  readonly #sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(targetPort: number): Promise<TcpProxy> {
    const port = await freePort();
    const server: Server = createServer((client) => {
      client.pause();
      proxy.#sockets.add(client);
      const delay = proxy.#delayMs;
      setTimeout(() => {
        if (client.destroyed) return;
        proxy.#forward(client, connect(targetPort, "127.0.0.1"));
      }, delay);
    });
    const proxy = new TcpProxy(server, port);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return proxy;
  }

  #forward(client: Socket, upstream: Socket): void {
    this.#sockets.add(upstream);
    client.resume();
    client.on("data", (d) => upstream.write(d));
    upstream.on("data", (d) => {
      if (!this.#frozen) client.write(d);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("close", end).on("error", end);
    upstream.on("close", end).on("error", end);
  }

  /** New client connections wait `ms` before they reach the server (a client that comes back late). */
  delayNewConnections(ms: number): void {
    this.#delayMs = ms;
  }

  freezeDownstream(): void {
    this.#frozen = true;
  }

  /** Kills every proxied TCP connection (no WebSocket close frame) and keeps accepting new ones. */
  dropConnections(): void {
    for (const s of this.#sockets) s.destroy();
    this.#sockets.clear();
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

/**
 * A round-robin TCP load balancer on loopback, like a plain L4 balancer in front of gateway nodes:
 * each new client connection goes to the next backend; a backend that refuses is skipped.
 */
export class TcpBalancer {
  #next = 0;
  #backends: readonly number[] = [];
  readonly #sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(backendPorts: readonly number[]): Promise<TcpBalancer> {
    const port = await freePort();
    const server: Server = createServer((client) => {
      client.pause();
      const backends = balancer.#backends;
      const attempt = (tries: number): void => {
        if (tries === 0) {
          client.destroy();
          return;
        }
        const target = backends[balancer.#next++ % backends.length]!;
        const upstream = connect(target, "127.0.0.1");
        let connected = false;
        upstream.once("error", () => {
          if (!connected) attempt(tries - 1);
        });
        upstream.once("connect", () => {
          connected = true;
          balancer.#sockets.add(client).add(upstream);
          client.pipe(upstream).pipe(client);
          client.resume();
          const end = () => {
            client.destroy();
            upstream.destroy();
          };
          client.on("close", end).on("error", end);
          upstream.on("close", end).on("error", end);
        });
      };
      attempt(backends.length);
    });
    const balancer = new TcpBalancer(server, port);
    balancer.#backends = backendPorts;
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return balancer;
  }

  /** New client connections go to these backends from now on; established ones stay where they are. */
  setBackends(backendPorts: readonly number[]): void {
    this.#backends = backendPorts;
  }

  async close(): Promise<void> {
    for (const s of this.#sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

import { createServer, type Server } from "node:http";
import type { Registry } from "prom-client";

export interface HealthSource {
  /** process is alive and its event loop turns */
  live(): boolean;
  /** ready for traffic: dependencies reachable and not draining; the reason is shown when not */
  ready(): { ready: true } | { ready: false; reason: string };
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

/**
 * `/metrics` (Prometheus text exposition), `/healthz` and `/readyz` on their own port, off the hot
 * path (docs/contract.md §1: TIDINGS_METRICS_PORT). Plain node:http: scrapes are rare and small.
 */
export async function startMetricsServer(opts: {
  host: string;
  port: number;
  registry: Registry;
  health: HealthSource;
}): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    const json = (status: number, body: unknown) => {
      res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    };
    if (req.method !== "GET" && req.method !== "HEAD") return json(405, { error: "method_not_allowed", message: "Use GET." });
    switch (path) {
      case "/metrics":
        opts.registry.metrics().then(
          (text) => res.writeHead(200, { "content-type": opts.registry.contentType }).end(text),
          (err: unknown) => json(500, { error: "internal", message: err instanceof Error ? err.message : String(err) }),
        );
        return;
      case "/healthz":
        return opts.health.live() ? json(200, { status: "ok" }) : json(503, { error: "unhealthy", message: "The process is not healthy." });
      case "/readyz": {
        const r = opts.health.ready();
        return r.ready ? json(200, { status: "ready" }) : json(503, { error: "not_ready", message: r.reason });
      }
      default:
        return json(404, { error: "not_found", message: `No endpoint at ${path}.` });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === "object" && address !== null ? address.port : opts.port,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

import type { HttpRequest, HttpResponse, TemplatedApp, us_listen_socket } from "uWebSockets.js";
import type { Uws } from "../transport/uws.js";

/** Exclusive port: uWS otherwise sets SO_REUSEPORT, and a second process on the same port would silently take part of the requests. */
const LIBUS_LISTEN_EXCLUSIVE_PORT = 1;

/** Which listener a request came in on: `main` (hub and, without an API port, everything) or `api`. */
export type Listener = "main" | "api";

/** A bound uWS listen socket and its port. */
export interface Bound {
  readonly port: number;
  close(): void;
}

/** Listens on `host:port` with an exclusive port; rejects when the port is taken. */
export function listen(uws: typeof Uws, app: TemplatedApp, host: string, port: number): Promise<Bound> {
  return new Promise((resolve, reject) => {
    // This build's typings lack the host + options overload that the addon has.
    const bind = app.listen.bind(app) as unknown as (
      host: string,
      port: number,
      options: number,
      cb: (socket: us_listen_socket | false) => void,
    ) => void;
    bind(host, port, LIBUS_LISTEN_EXCLUSIVE_PORT, (socket) => {
      if (socket === false) return reject(new Error(`cannot listen on ${host}:${port}`));
      resolve({ port: uws.us_socket_local_port(socket), close: () => uws.us_listen_socket_close(socket) });
    });
  });
}

/**
 * With a separate API port, the producer ingest and read APIs (`/api/*`) answer only there and the
 * hub only on the main port, so a NetworkPolicy can keep the APIs off the public port. Health
 * endpoints answer on both. True when the request must be answered 404 on this listener.
 */
export function wrongListener(separateApi: boolean, listener: Listener, rawPath: string): boolean {
  if (!separateApi || rawPath === "/healthz" || rawPath === "/readyz") return false;
  return rawPath.startsWith("/api/") !== (listener === "api");
}

/** A second uWS app on which every request goes to `route` as an `api` request. */
export function createApiApp(uws: typeof Uws, route: (res: HttpResponse, req: HttpRequest, listener: Listener) => void): TemplatedApp {
  const app = uws.App();
  app.any("/*", (res, req) => route(res, req, "api"));
  return app;
}

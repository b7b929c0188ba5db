import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { HttpPool, ResponseReader } from "./http-pool.js";

describe("ResponseReader", () => {
  it("reads a response split anywhere across chunks, and only once its whole body is in", () => {
    const bytes = Buffer.from('HTTP/1.1 202 Accepted\r\nContent-Type: application/json\r\ncontent-length: 11\r\n\r\n{"ids":[1]}');
    for (let cut = 1; cut < bytes.length; cut++) {
      const r = new ResponseReader();
      expect(r.push(bytes.subarray(0, cut))).toBeUndefined();
      expect(r.push(bytes.subarray(cut))).toEqual({ status: 202, close: false });
    }
  });

  it("reports Connection: close, and refuses a response without Content-Length or with bytes after it", () => {
    expect(
      new ResponseReader().push(Buffer.from("HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")),
    ).toEqual({
      status: 503,
      close: true,
    });
    expect(() => new ResponseReader().push(Buffer.from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"))).toThrow(
      /Content-Length/,
    );
    expect(() => new ResponseReader().push(Buffer.from("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\nHTTP/1.1"))).toThrow(/after/);
  });
});

describe("HttpPool", () => {
  let close: (() => void) | null = null;
  afterEach(() => close?.());

  async function server(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void): Promise<number> {
    const s = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString("utf8")));
      req.on("end", () => handle(req, body, res));
    });
    await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
    close = () => s.close();
    s.keepAliveTimeout = 10_000;
    return (s.address() as AddressInfo).port;
  }

  it("keeps at most maxConnections open, queues the rest in order, and answers each request with its own status", async () => {
    const sockets = new Set<unknown>();
    const seen: string[] = [];
    const port = await server((req, body, res) => {
      sockets.add(req.socket);
      seen.push(body);
      setTimeout(
        () => res.writeHead(body.endsWith("7}") ? 503 : 202, { "content-type": "application/json", "content-length": 2 }).end("{}"),
        5,
      );
    });
    const pool = new HttpPool(port, 3, 4000);
    const statuses = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.post("/api/notifications", "application/json", `{"n":${i}}`)),
    );
    expect(statuses).toEqual(Array.from({ length: 20 }, (_, i) => (i === 7 || i === 17 ? 503 : 202)));
    expect(sockets.size).toBe(3);
    expect(seen.slice(0, 3).sort()).toEqual(['{"n":0}', '{"n":1}', '{"n":2}']);
    expect(seen.slice(3)).toEqual(Array.from({ length: 17 }, (_, i) => `{"n":${i + 3}}`));
    pool.destroy();
  });

  it("rejects a request whose connection closes before the answer, and opens a new connection for the next", async () => {
    let first = true;
    const port = await server((req, _body, res) => {
      if (first) {
        first = false;
        req.socket.destroy();
      } else res.writeHead(202, { "content-length": 2 }).end("{}");
    });
    const pool = new HttpPool(port, 1, 4000);
    await expect(pool.post("/x", "application/json", "{}")).rejects.toThrow(/hang up/);
    await expect(pool.post("/x", "application/json", "{}")).resolves.toBe(202);
    pool.destroy();
  });

  it("never sends a request on a connection its idle timer has just ended (the 'socket hang up' of a measured run)", async () => {
    const port = await server((_req, _body, res) => res.writeHead(202, { "content-length": 2 }).end("{}"));
    const idleMs = 30;
    const pool = new HttpPool(port, 1, idleMs);
    await expect(pool.post("/x", "application/json", "{}")).resolves.toBe(202);
    // Registered after the pool's idle timer with the same delay: runs right after it ended the
    // connection, before its 'close' event can arrive.
    const next = await new Promise<{ status: Promise<number> }>((r) =>
      setTimeout(() => r({ status: pool.post("/x", "application/json", "{}") }), idleMs),
    );
    await expect(next.status).resolves.toBe(202);
    pool.destroy();
  });
});

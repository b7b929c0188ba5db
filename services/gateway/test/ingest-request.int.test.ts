/*
 * POST /api/notifications as the request path handles it: the peer-address check of keyless ingest, the
 * exact 202 answer, bodies in one read or several, MessagePack, a sink that throws or rejects, and the
 * ingest counter. Real gateway, real sockets (node:http, so Host and the peer address can be chosen).
 */
import { encode as msgpackEncode } from "@msgpack/msgpack";
import { Agent, request, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { networkInterfaces } from "node:os";
import { sleep } from "@tidings/testkit";
import { describe, expect, it } from "vitest";
import { envelope, startGateway } from "./harness.js";

interface Answer {
  status: number;
  statusMessage: string;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One POST: `parts` written one after another, `gapMs` apart (several reads on the server). */
function post(
  opts: { address: string; port: number; host?: string; agent?: Agent; localAddress?: string; headers?: Record<string, string> },
  parts: Array<string | Uint8Array>,
  gapMs = 0,
): Promise<Answer> {
  const length = parts.reduce((n, p) => n + Buffer.byteLength(p), 0);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: opts.address,
        port: opts.port,
        path: "/api/notifications",
        method: "POST",
        ...(opts.agent === undefined ? {} : { agent: opts.agent }),
        ...(opts.localAddress === undefined ? {} : { localAddress: opts.localAddress }),
        headers: {
          host: opts.host ?? `127.0.0.1:${opts.port}`,
          "content-type": "application/json",
          "content-length": String(length),
          ...opts.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode!,
            statusMessage: res.statusMessage!,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
      },
    );
    req.on("error", reject);
    void (async () => {
      for (const [i, part] of parts.entries()) {
        if (i > 0 && gapMs > 0) await sleep(gapMs);
        req.write(part);
      }
      req.end();
    })();
  });
}

/** This machine's addresses that are not loopback, per family. */
function externalAddresses(family: "IPv4" | "IPv6"): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((a) => a !== undefined && a.family === family && !a.internal && !a.address.startsWith("fe80:"))
    .map((a) => a!.address);
}

const externalV4 = externalAddresses("IPv4")[0];
const externalV6 = externalAddresses("IPv6")[0];

describe("keyless ingest: the peer's address is the credential", () => {
  it.skipIf(externalV4 === undefined)(
    "a peer on a non-loopback address is refused with 401 on every request of a keep-alive socket, even naming a loopback Host; loopback peers interleaved are accepted",
    async () => {
      await using gw = await startGateway({ TIDINGS_HOST: "0.0.0.0" });
      const outside = new Agent({ keepAlive: true, maxSockets: 1 });
      const inside = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          const refused = await post({ address: externalV4!, port: gw.port, agent: outside }, [JSON.stringify([envelope(1, undefined)])]);
          expect(refused.status).toBe(401);
          expect(JSON.parse(refused.body)).toMatchObject({ error: "unauthorized" });
          expect(refused.headers["www-authenticate"]).toBe('Bearer realm="tidings-ingest"');
          const accepted = await post({ address: "127.0.0.1", port: gw.port, agent: inside }, [JSON.stringify([envelope(1, undefined)])]);
          expect(accepted.status).toBe(202);
        }
        // Each agent kept its one socket: the decisions above were made request by request on the same connections.
        expect(Object.values(outside.freeSockets).flat()).toHaveLength(1);
        expect(Object.values(inside.freeSockets).flat()).toHaveLength(1);
      } finally {
        outside.destroy();
        inside.destroy();
      }
    },
  );

  it("on a dual-stack listener: ::1 and IPv4 loopback (an IPv4-mapped address) are accepted, non-loopback IPv4 and IPv6 refused", async () => {
    await using gw = await startGateway({ TIDINGS_HOST: "::" });
    const body = () => [JSON.stringify([envelope(1, undefined)])];
    expect((await post({ address: "::1", port: gw.port, host: `[::1]:${gw.port}` }, body())).status).toBe(202);
    expect((await post({ address: "127.0.0.1", port: gw.port }, body())).status).toBe(202);
    if (externalV4 !== undefined) expect((await post({ address: externalV4, port: gw.port }, body())).status).toBe(401);
    if (externalV6 !== undefined) expect((await post({ address: externalV6, port: gw.port }, body())).status).toBe(401);
  });
});

describe("the 202 answer and the body as received", () => {
  it("202 Accepted with Content-Type application/json and exactly {accepted, ids}; CORS headers only for an allowed Origin", async () => {
    await using gw = await startGateway({ TIDINGS_CORS_ORIGINS: "https://app.example" });
    const batch = [envelope(1, undefined, { id: "ingest-a" }), envelope(3, "g", { id: "ingest-b" })];
    const plain = await post({ address: "127.0.0.1", port: gw.port }, [JSON.stringify(batch)]);
    expect(plain.status).toBe(202);
    expect(plain.statusMessage).toBe("Accepted");
    expect(plain.headers["content-type"]).toBe("application/json");
    expect(plain.headers["access-control-allow-origin"]).toBeUndefined();
    expect(plain.body).toBe('{"accepted":2,"ids":["ingest-a","ingest-b"]}');
    const fromPage = await post({ address: "127.0.0.1", port: gw.port, headers: { origin: "https://app.example" } }, [
      JSON.stringify([envelope(1, undefined, { id: "ingest-c" })]),
    ]);
    expect(fromPage.status).toBe(202);
    expect(fromPage.headers["access-control-allow-origin"]).toBe("https://app.example");
    expect(fromPage.headers["access-control-allow-credentials"]).toBe("true");
    expect(fromPage.headers["vary"]).toBe("Origin");
    expect(fromPage.body).toBe('{"accepted":1,"ids":["ingest-c"]}');
    const otherPage = await post({ address: "127.0.0.1", port: gw.port, headers: { origin: "https://evil.example" } }, [
      JSON.stringify([envelope(1, undefined)]),
    ]);
    expect(otherPage.status).toBe(202);
    expect(otherPage.headers["access-control-allow-origin"]).toBeUndefined();
  });

  it("a body arriving in several reads is assembled and accepted; envelope sizes count its bytes as sent", async () => {
    await using gw = await startGateway({ TIDINGS_MAX_NOTIFICATION_BYTES: "1024" });
    const batch = JSON.stringify([envelope(1, undefined, { id: "split-1" }), envelope(1, undefined, { id: "split-2" })]);
    const cut = Math.floor(batch.length / 2);
    const split = await post({ address: "127.0.0.1", port: gw.port }, [batch.slice(0, cut), batch.slice(cut)], 50);
    expect(split.status).toBe(202);
    expect(JSON.parse(split.body)).toEqual({ accepted: 2, ids: ["split-1", "split-2"] });
    // Whitespace as sent counts: this envelope is under 1 KiB compact, over it as sent, in three reads.
    const padded = `[{"id":"pad-1",${" ".repeat(1200)}"type":"note","body":{},"routing":{"audienceType":1},"metadata":{"producer":"tests"}}]`;
    const tooBig = await post(
      { address: "127.0.0.1", port: gw.port },
      [padded.slice(0, 400), padded.slice(400, 800), padded.slice(800)],
      30,
    );
    expect(tooBig.status).toBe(400);
    expect(JSON.parse(tooBig.body)).toMatchObject({ error: "invalid_notification" });
  });

  it("a batch over the size limit whose envelopes are each within it is accepted; the one envelope over it is named with its size as sent", async () => {
    await using gw = await startGateway({ TIDINGS_MAX_NOTIFICATION_BYTES: "1024" });
    const under = (id: string) => envelope(1, undefined, { id, body: { text: "y".repeat(600) } });
    const batch = [under("lim-1"), under("lim-2"), under("lim-3")];
    const ok = await post({ address: "127.0.0.1", port: gw.port }, [JSON.stringify(batch)]);
    expect(ok.status).toBe(202);
    expect(JSON.parse(ok.body)).toEqual({ accepted: 3, ids: ["lim-1", "lim-2", "lim-3"] });
    const over = JSON.stringify(envelope(1, undefined, { id: "lim-4", body: { text: "y".repeat(1000) } }));
    const refused = await post({ address: "127.0.0.1", port: gw.port }, [`[${JSON.stringify(under("lim-5"))},  ${over}]`]);
    expect(refused.status).toBe(400);
    const problems = (JSON.parse(refused.body) as { problems: Array<{ index: number; message: string }> }).problems;
    expect(problems).toEqual([{ index: 1, path: "", message: `must be at most 1024 bytes, not ${Buffer.byteLength(over)}` }]);
  });

  it("413 for a body over 4 MiB sent in pieces; the connection's next request is not confused with it", async () => {
    await using gw = await startGateway();
    const piece = "x".repeat(1024 * 1024);
    const big = await post({ address: "127.0.0.1", port: gw.port }, ["[", piece, piece, piece, piece, piece, "]"], 5);
    expect(big.status).toBe(413);
    expect(JSON.parse(big.body)).toMatchObject({ error: "payload_too_large" });
    expect((await post({ address: "127.0.0.1", port: gw.port }, [JSON.stringify([envelope(1, undefined)])])).status).toBe(202);
  });

  it("a MessagePack body is accepted with the same answer", async () => {
    await using gw = await startGateway();
    const bytes = msgpackEncode([envelope(1, undefined, { id: "mp-1", body: { text: "héllo" } })]);
    const res = await post({ address: "127.0.0.1", port: gw.port, headers: { "content-type": "application/msgpack" } }, [bytes]);
    expect(res.status).toBe(202);
    expect(res.body).toBe('{"accepted":1,"ids":["mp-1"]}');
  });

  it("a producer that goes away mid-body gets nothing accepted and the gateway keeps serving", async () => {
    let sunk = 0;
    await using gw = await startGateway({}, { ingest: async (ns) => void (sunk += ns.length) });
    const socket = connect(gw.port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    socket.write(
      `POST /api/notifications HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: 5000\r\n\r\n[{"id":`,
    );
    await sleep(50);
    socket.destroy();
    await sleep(50);
    expect((await post({ address: "127.0.0.1", port: gw.port }, [JSON.stringify([envelope(1, undefined)])])).status).toBe(202);
    expect(sunk).toBe(1);
  });
});

describe("the sink's outcome and the ingest counter", () => {
  it("a sink that throws synchronously or rejects → 503 with Retry-After; accepted, rejected and unavailable counted", async () => {
    let mode: "ok" | "throw" | "reject" = "ok";
    await using gw = await startGateway(
      {},
      {
        ingest: (ns) => {
          if (mode === "throw") throw new Error("sink broke synchronously");
          if (mode === "reject") return Promise.reject(new Error("sink refused"));
          return Promise.resolve(void ns);
        },
      },
    );
    const send = (n: number) =>
      post({ address: "127.0.0.1", port: gw.port }, [JSON.stringify(Array.from({ length: n }, () => envelope(1, undefined)))]);
    expect((await send(2)).status).toBe(202);
    for (const m of ["throw", "reject"] as const) {
      mode = m;
      const res = await send(3);
      expect(res.status).toBe(503);
      expect(res.headers["retry-after"]).toBe("1");
      expect(JSON.parse(res.body)).toEqual({
        error: "unavailable",
        message: "Notifications cannot be accepted right now; retry with the same ids.",
      });
    }
    mode = "ok";
    expect((await post({ address: "127.0.0.1", port: gw.port }, ['[{"id":""},{"id":"x"}]'])).status).toBe(400);
    expect(await gw.metric('tidings_gateway_ingest_notifications_total{result="accepted"}')).toBe(2);
    expect(await gw.metric('tidings_gateway_ingest_notifications_total{result="unavailable"}')).toBe(6);
    expect(await gw.metric('tidings_gateway_ingest_notifications_total{result="rejected"}')).toBe(2);
    // Read twice: the tallies are added once, not again on the next read.
    expect(await gw.metric('tidings_gateway_ingest_notifications_total{result="accepted"}')).toBe(2);
  });
});

import { createServer, request as httpRequest, type Server } from "node:http";
import { connect as tcpConnect } from "node:net";
import type { HubConnection } from "@microsoft/signalr";
import {
  buildClient,
  collect,
  freePort,
  mintToken,
  RawWs,
  sleep,
  startNats,
  startPostgres,
  TEST_JWT_SECRET,
  waitFor,
  type HttpExchange,
  type NatsServer,
  type PostgresServer,
} from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTidings, type TidingsProcess } from "./process.js";

/**
 * docs/protocol.md §12 with real processes: nats-server, PostgreSQL, a store, a router and two gateway nodes
 * behind a balancer that sends EVERY HTTP request to the next node in turn — no affinity of any kind.
 */
let nats: NatsServer;
let pg: PostgresServer;
const procs: TidingsProcess[] = [];
let gwA: TidingsProcess;
let gwB: TidingsProcess;
const clients: HubConnection[] = [];

interface Routed {
  method: string;
  url: string;
  accept: string;
  /** index of the gateway node that got it */
  node: number;
}

/**
 * An HTTP-level round-robin balancer: each request (not each TCP connection) goes to the next node, over
 * a fresh upstream connection; responses, SSE streams included, are piped back as they arrive, and a
 * WebSocket upgrade is passed through as raw bytes both ways.
 */
class AlternatingBalancer {
  readonly routed: Routed[] = [];
  #next = 0;
  readonly #upgraded = new Set<{ destroy(): void }>();
  private constructor(
    private readonly server: Server,
    readonly url: string,
  ) {}

  static async start(ports: readonly number[]): Promise<AlternatingBalancer> {
    const port = await freePort();
    const server = createServer((req, res) => {
      const node = balancer.#next++ % ports.length;
      balancer.routed.push({ method: req.method ?? "", url: req.url ?? "", accept: req.headers.accept ?? "", node });
      const upstream = httpRequest(
        { host: "127.0.0.1", port: ports[node], method: req.method, path: req.url, headers: req.headers, agent: false },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.statusMessage, answer.headers);
          res.flushHeaders();
          answer.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      res.on("close", () => upstream.destroy()); // the client left (an aborted poll, a closed stream): so does the upstream request
      req.pipe(upstream);
    });
    server.on("upgrade", (req, socket, head) => {
      const node = balancer.#next++ % ports.length;
      balancer.routed.push({ method: "UPGRADE", url: req.url ?? "", accept: "", node });
      const upstream = tcpConnect(ports[node]!, "127.0.0.1", () => {
        const lines = [`${req.method} ${req.url} HTTP/1.1`];
        for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
        upstream.write(lines.join("\r\n") + "\r\n\r\n");
        upstream.write(head);
        socket.pipe(upstream).pipe(socket);
        balancer.#upgraded.add(socket).add(upstream);
      });
      const end = () => {
        socket.destroy();
        upstream.destroy();
      };
      socket.on("error", end).on("close", end);
      upstream.on("error", end).on("close", end);
    });
    const balancer = new AlternatingBalancer(server, `http://127.0.0.1:${port}`);
    await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
    return balancer;
  }

  /** Kills every passed-through WebSocket's TCP connections (no close frame). */
  dropUpgrades(): void {
    for (const s of this.#upgraded) s.destroy();
    this.#upgraded.clear();
  }

  /** Hub requests with an `id` (polls, SSE GETs, POSTs, DELETEs) per node. */
  hubRequestsPerNode(): number[] {
    const counts = [0, 0];
    for (const r of this.routed) if (/\/notifications\/?\?.*id=/i.test(r.url)) counts[r.node]!++;
    return counts;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const common = () => ({ TIDINGS_NATS_URL: nats.url, TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET, TIDINGS_REGISTRY_HEARTBEAT_SECONDS: "1" });

beforeAll(async () => {
  nats = await startNats({ jetstream: true });
  pg = await startPostgres();
  procs.push(
    ...(await Promise.all([
      startTidings({ ...common(), TIDINGS_ROLE: "store", TIDINGS_DATABASE_URL: pg.url }, "store service answering"),
      startTidings({ ...common(), TIDINGS_ROLE: "router", TIDINGS_NODE_ID: "router-1" }, "router running"),
    ])),
  );
  [gwA, gwB] = await Promise.all([
    startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-a" }),
    startTidings({ ...common(), TIDINGS_ROLE: "gateway", TIDINGS_NODE_ID: "gw-b" }),
  ]);
  procs.push(gwA, gwB);
}, 120_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.stop()));
  await Promise.all(procs.map((p) => p.stop()));
  await nats?.stop();
  await pg?.stop();
}, 60_000);

let seq = 0;
const userNote = (user: string) => ({
  id: `ns-${process.pid}-${++seq}`,
  type: "note",
  body: { seq },
  routing: { audienceType: 4, audienceValue: user },
  metadata: { producer: "no-sticky-test" },
});
async function publish(via: TidingsProcess, envelope: unknown): Promise<void> {
  const res = await fetch(`${via.url}/api/notifications`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(envelope),
  });
  expect(res.status).toBe(202);
}

describe("no sticky sessions (docs/protocol.md §12): every request alternates between two gateway nodes", () => {
  it("W-CL-01 JS LongPolling: first poll immediate, every notification in order, stop() → DELETE 202", async () => {
    const lb = await AlternatingBalancer.start([gwA.port, gwB.port]);
    try {
      const exchanges: HttpExchange[] = [];
      const c = buildClient(lb.url, { token: await mintToken({ sub: "lp-roamer" }), transport: "LongPolling", exchanges });
      clients.push(c);
      const notes = collect<{ id: string }>(c, "note");
      const started = Date.now();
      await c.start();
      expect(Date.now() - started).toBeLessThan(3000); // the first poll, forwarded or not, is answered at once
      await sleep(500); // the owner's registry delta reaches the router
      const sent: string[] = [];
      for (let i = 0; i < 20; i++) {
        const n = userNote("lp-roamer");
        sent.push(n.id);
        await publish(i % 2 === 0 ? gwA : gwB, n);
      }
      await waitFor(() => notes.length >= sent.length, 10_000, "every notification");
      expect(notes.map((n) => n.id)).toEqual(sent);
      await c.invoke("Subscribe", { audienceType: 3, audienceValue: "lp-room" });
      await c.stop();
      const del = exchanges.filter((x) => x.method === "DELETE");
      expect(del.map((x) => x.status)).toEqual([202]);
      // Alternation really happened: each node got a share of the connection's polls and POSTs.
      const [onA, onB] = lb.hubRequestsPerNode();
      expect(onA).toBeGreaterThanOrEqual(3);
      expect(onB).toBeGreaterThanOrEqual(3);
      const polls = lb.routed.filter((r) => r.method === "GET");
      expect(new Set(polls.map((r) => r.node)).size).toBe(2);
    } finally {
      await lb.close();
    }
  });

  it("W-CL-02 JS ServerSentEvents with the stream on the non-owner, POSTs alternating: invocation results in call order", async () => {
    const lb = await AlternatingBalancer.start([gwA.port, gwB.port]);
    try {
      const c = buildClient(lb.url, { token: await mintToken({ sub: "sse-roamer" }), transport: "ServerSentEvents" });
      clients.push(c);
      const notes = collect<{ id: string }>(c, "note");
      await c.start();
      const negotiateNode = lb.routed.find((r) => r.url.includes("/negotiate"))!.node;
      const streamNode = lb.routed.find((r) => r.accept.includes("text/event-stream"))!.node;
      expect(streamNode).not.toBe(negotiateNode); // the stream is relayed from the owner

      // Invocations go out as POSTs one after the other (the client batches those queued meanwhile).
      const completed: number[] = [];
      const calls: Array<Promise<void>> = [];
      for (let i = 0; i < 12; i++) {
        const method = i % 3 === 2 ? "Unsubscribe" : "Subscribe";
        calls.push(
          c.invoke(method, { audienceType: 3, audienceValue: `sse-room-${Math.floor(i / 3)}` }).then(() => void completed.push(i)),
        );
        await sleep(3);
      }
      await Promise.all(calls);
      expect(completed).toEqual(Array.from({ length: 12 }, (_, i) => i));
      const posts = lb.routed.filter((r) => r.method === "POST");
      expect(new Set(posts.map((r) => r.node)).size).toBe(2);

      await sleep(500);
      const n = userNote("sse-roamer");
      await publish(gwA, n);
      await waitFor(() => notes.some((x) => x.id === n.id), 5000, "the notification over the relayed stream");
      const closed = new Promise<Error | undefined>((resolve) => c.onclose(resolve));
      await c.stop();
      expect(await closed).toBeUndefined();
    } finally {
      await lb.close();
    }
  });

  it("W-CL-02 a relayed SSE stream is byte-identical to a local one: docs/protocol.md §3.3 headers, `:\\r\\n`, then events", async () => {
    const auth = { authorization: `Bearer ${await mintToken({ sub: "sse-raw" })}` };
    const open = async (node: TidingsProcess) => {
      const res = await fetch(`${node.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: auth });
      const { connectionToken } = (await res.json()) as { connectionToken: string };
      return `notifications?id=${connectionToken}`;
    };
    const read = async (streamUrl: string, postVia: readonly TidingsProcess[]) => {
      const abort = new AbortController();
      const res = await fetch(streamUrl, { headers: { accept: "text/event-stream", ...auth }, signal: abort.signal });
      const reader = res.body!.getReader();
      let text = "";
      const pump = (async () => {
        for (;;) {
          const { value, done } = await reader.read().catch(() => ({ value: undefined, done: true }));
          if (done) return;
          text += Buffer.from(value).toString();
        }
      })();
      const path = streamUrl.slice(streamUrl.indexOf("notifications?"));
      const post = (via: TidingsProcess, body: string) =>
        fetch(`${via.url}/${path}`, { method: "POST", headers: auth, body }).then((r) => r.status);
      expect(await post(postVia[0]!, '{"protocol":"json","version":1}\x1e')).toBe(200);
      await waitFor(() => text.includes("\r\n\r\n"), 3000, "handshake event");
      expect(await post(postVia[1]!, '{"type":6}\x1e')).toBe(200);
      await sleep(200);
      abort.abort();
      await pump;
      const headers = Object.fromEntries([...res.headers].filter(([k]) => k !== "date"));
      return { status: res.status, headers, text };
    };
    const local = await read(`${gwA.url}/${await open(gwA)}`, [gwA, gwA]);
    const relayed = await read(`${gwB.url}/${await open(gwA)}`, [gwA, gwB]);
    expect(relayed).toEqual(local);
    expect(relayed.text).toBe(":\r\ndata: {}\x1e\r\n\r\n:\r\n");
  });

  it.each(["json", "messagepack"] as const)(
    "W-CL-03 JS %s over WebSockets, negotiate on one node and the upgrade on the other",
    async (protocol) => {
      const lb = await AlternatingBalancer.start([gwA.port, gwB.port]);
      try {
        const user = `ws-roamer-${protocol}`;
        const c = buildClient(lb.url, { token: await mintToken({ sub: user }), transport: "WebSockets", protocol });
        clients.push(c);
        const notes = collect<{ id: string }>(c, "note");
        await c.start();
        const negotiateNode = lb.routed.find((r) => r.url.includes("/negotiate"))!.node;
        expect(lb.routed.find((r) => r.method === "UPGRADE")!.node).not.toBe(negotiateNode);
        await c.invoke("Subscribe", { audienceType: 3, audienceValue: `ws-room-${protocol}` });
        await sleep(500);
        const n = userNote(user);
        await publish(gwA, n);
        await waitFor(() => notes.some((x) => x.id === n.id), 5000, "the notification over the relayed socket");
        const closed = new Promise<Error | undefined>((resolve) => c.onclose(resolve));
        await c.stop();
        expect(await closed).toBeUndefined();
      } finally {
        await lb.close();
      }
    },
  );

  it("W-CL-03 raw: a relayed socket keeps each frame's opcode, and a close on either side closes the other", async () => {
    const auth = { authorization: `Bearer ${await mintToken({ sub: "ws-raw" })}` };
    const negotiateOnA = async () => {
      const res = await fetch(`${gwA.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: auth });
      return ((await res.json()) as { connectionToken: string }).connectionToken;
    };
    const wsUrl = (node: TidingsProcess, id: string) => `ws://127.0.0.1:${node.port}/notifications?id=${id}`;

    const jsonId = await negotiateOnA();
    const json = await RawWs.open(wsUrl(gwB, jsonId), auth);
    json.send('{"protocol":"json","version":1}\x1e');
    await waitFor(() => json.frames.length === 1, 3000, "JSON handshake answer");
    expect(json.frames[0]).toEqual({ data: Buffer.from("{}\x1e"), binary: false });
    json.send('{"type":7}\x1e'); // the client's Close: the owner answers Close and ends with 1000, relayed
    expect(await json.closed).toBe(1000);
    expect(json.frames.at(-1)!.data.toString()).toBe('{"type":7}\x1e');

    const packId = await negotiateOnA();
    const pack = await RawWs.open(wsUrl(gwB, packId), auth);
    pack.send('{"protocol":"messagepack","version":1}\x1e', false); // sent as Text, as the JS client does
    await waitFor(() => pack.frames.length === 1, 3000, "MessagePack handshake answer");
    expect(pack.frames[0]!.binary).toBe(true);
    await sleep(500);
    const n = userNote("ws-raw");
    await publish(gwB, n);
    await waitFor(() => pack.frames.length === 2, 5000, "the notification");
    expect(pack.frames[1]!.binary).toBe(true);
    expect(pack.frames[1]!.data.includes(Buffer.from(n.id))).toBe(true);
    pack.close(); // the client closes on the relaying node: the owner's connection ends
    await pack.closed;
    await sleep(300);
    expect((await RawWs.refused(wsUrl(gwA, packId), auth)).status).toBe(404); // ended on the owner
    const again = await RawWs.refused(wsUrl(gwB, packId), auth);
    expect([again.status, again.body]).toEqual([404, "No Connection with that ID"]);
  });

  it("W-CL-04 W-SR-03 with the stateful reattach landing on the non-owner: 1,000 notifications in order, none twice, same connection", async () => {
    // Negotiate and the first upgrade on A (the owner), the reattach on B.
    const lb = await AlternatingBalancer.start([gwA.port, gwA.port, gwB.port]);
    try {
      const client = buildClient(lb.url, { token: await mintToken({ sub: "sr-roamer" }), statefulReconnect: true });
      clients.push(client);
      const got = collect<{ id: string }>(client, "note");
      let closed = false;
      client.onclose(() => (closed = true));
      await client.start();
      const connectionId = client.connectionId;
      await client.invoke("Subscribe", { audienceType: 3, audienceValue: "sr-roamer-room" });
      await sleep(500);
      const sent: string[] = [];
      for (let batch = 0; batch < 10; batch++) {
        const envelopes = Array.from({ length: 100 }, () => userNote("sr-roamer"));
        sent.push(...envelopes.map((e) => e.id));
        await publish(gwA, envelopes);
        if (batch === 4) lb.dropUpgrades();
      }
      await waitFor(() => got.length >= sent.length, 15_000, "all 1,000 notifications");
      await sleep(300);
      expect(got.map((n) => n.id)).toEqual(sent);
      expect(closed).toBe(false);
      expect(client.connectionId).toBe(connectionId);
      expect(lb.routed.filter((r) => r.method === "UPGRADE").map((r) => r.node)).toEqual([1, 2]); // the reattach went to B
      const group = { ...userNote("x"), routing: { audienceType: 3, audienceValue: "sr-roamer-room" } };
      await publish(gwB, group);
      await waitFor(() => got.some((n) => n.id === group.id), 5000, "group notification after the reattach");
      await client.stop();
    } finally {
      await lb.close();
    }
  });

  it("forwarded errors keep status and body: unknown node, forged id, wrong transport", async () => {
    const auth = { authorization: `Bearer ${await mintToken({ sub: "err-user" })}` };
    const negotiated = await fetch(`${gwA.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: auth });
    const { connectionToken } = (await negotiated.json()) as { connectionToken: string };
    // A foreign id for an unknown node: no owner answers.
    const ghost = connectionToken.slice(0, 22) + Buffer.from("gw-ghost").toString("base64url");
    for (const id of [ghost, "forged-id"]) {
      const res = await fetch(`${gwB.url}/notifications?id=${id}`, { headers: auth });
      expect([res.status, await res.text()]).toEqual([404, "No Connection with that ID"]);
    }
    // On the non-owner, DELETE before any transport gets the owner's 400 with its exact body.
    const del = await fetch(`${gwB.url}/notifications?id=${connectionToken}`, { method: "DELETE", headers: auth });
    expect([del.status, del.statusText, await del.text()]).toEqual([
      400,
      "Bad Request",
      "Cannot terminate this connection using the DELETE endpoint.",
    ]);
  });

  it("W-CL-05 kill the owner: its tokens get 404 No Connection with that ID on the survivor within 5 s", async () => {
    const auth = { authorization: `Bearer ${await mintToken({ sub: "orphan" })}` };
    const negotiated = await fetch(`${gwB.url}/notifications/negotiate?negotiateVersion=1`, { method: "POST", headers: auth });
    const { connectionToken } = (await negotiated.json()) as { connectionToken: string };
    const url = `${gwA.url}/notifications?id=${connectionToken}`;
    expect((await fetch(url, { headers: auth })).status).toBe(200); // first poll, forwarded to the owner B
    gwB.child.kill("SIGKILL");
    await gwB.exited;
    const started = Date.now();
    const poll = await fetch(url, { headers: auth });
    expect([poll.status, await poll.text()]).toEqual([404, "No Connection with that ID"]);
    const post = await fetch(url, { method: "POST", headers: auth, body: '{"type":6}\x1e' });
    expect([post.status, await post.text()]).toEqual([404, "No Connection with that ID"]);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

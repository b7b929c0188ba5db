import type { HubConnection } from "@microsoft/signalr";
import { connectNatsBus, type NatsBus } from "@tidings/bus";
import { loadConfig } from "@tidings/config";
import {
  encodeFramedNodeMessage,
  GLOBAL_AUDIENCE,
  NodeMessage,
  notificationCodec,
  subjects,
  userAudience,
  validateEnvelope,
  type Notification,
} from "@tidings/contracts";
import { concatBytes, fc, mutated } from "@tidings/fuzzing";
import { createLogger, Registry } from "@tidings/observability";
import { buildClient, freePort, mintToken, sleep, startNats, TEST_JWT_SECRET, waitFor, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { runGateway, type RunningGateway } from "../src/index.js";
import { envelope } from "./harness.js";

/*
 * Hostile node messages against a real gateway node (`runGateway` on a real nats-server): a few hundred
 * seeded mutations of valid node messages in both formats, published to the node's subject, then a
 * valid one. What the node does with each is predicted from `NodeMessage.read` alone: refused (the bus
 * handler logs it), a duplicate, or delivered, and then encoded for MessagePack members or skipped as an
 * encode failure. Stock clients must get exactly the predicted notifications and stay connected.
 */

const SEED = 20_261_206;
const MP_USER = "fuzz-mp";
const JSON_USER = "fuzz-json";
const DOCUMENTED = /^(framed node message|notification): /;

function notification(user: string, id: string, body: unknown): Notification {
  const r = validateEnvelope(envelope(4, user, { id, body }), { now: new Date(), defaultTtlSeconds: 60, maxNotificationBytes: 65536 });
  if (!r.ok) throw new Error("fixture envelope invalid");
  return r.notification;
}

const bodies = [{ text: "plain" }, { text: 'quote " é 😀 \u2028', n: [1.5, null, true] }, [], "x".repeat(300)];

/** `count` valid node messages for `user`, each its own notification: framed (ASCII or UTF-16 header strings) or its JSON. */
function bases(user: string, count: number, formats: "both" | "json"): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => {
    const n = notification(user, i % 4 < 2 ? `h-${user}-${i}` : `h-é-${user}-${i}`, bodies[i % bodies.length]);
    return formats === "json" || i % 2 === 1 ? notificationCodec.encode(n) : encodeFramedNodeMessage(n);
  });
}

/** Each message with 1–4 seeded random edits (the fuzzing package's mutations). */
function mutate(messages: Uint8Array[], seed: number): Uint8Array[] {
  return messages.map((m, i) => fc.sample(mutated(fc.constant(m)), { seed: seed + i, numRuns: 1 })[0]!);
}

/** Framed messages broken the ways a decoder meets first: truncated header, unknown audience type, header of another notification. */
function headerBreaks(user: string): Uint8Array[] {
  const a = notification(user, "break-a", { k: 1 });
  const b = notification(user, "break-b", { k: 2 });
  const framedA = encodeFramedNodeMessage(a);
  const frameOfB = NodeMessage.read(encodeFramedNodeMessage(b)).jsonFrame!;
  const unknownType = Buffer.from(framedA);
  unknownType[1] = 9;
  const otherType = Buffer.from(framedA);
  otherType[1] = 3;
  return [
    framedA.subarray(0, 5),
    framedA.subarray(0, 8),
    unknownType,
    otherType,
    concatBytes(framedA.subarray(0, framedA.byteLength - NodeMessage.read(framedA).jsonFrame!.byteLength), frameOfB),
  ];
}

interface LogLine {
  msg: string;
  err?: { message: string };
}

interface Client {
  conn: HubConnection;
  /** Ids of the notifications received, in order, on any target registered with `expect`. */
  got: string[];
  closed: boolean;
}

describe("hostile node messages on a real gateway node", () => {
  let nats: NatsServer;
  let node: RunningGateway;
  let publisher: NatsBus;
  let url: string;
  const registry = new Registry();
  /** The node's error log lines. */
  const logged: LogLine[] = [];
  const nodeId = "fuzz-node";

  beforeAll(async () => {
    nats = await startNats({ jetstream: true });
    const port = await freePort();
    const config = loadConfig({
      TIDINGS_ROLE: "gateway",
      TIDINGS_NATS_URL: nats.url,
      TIDINGS_PORT: String(port),
      TIDINGS_HOST: "127.0.0.1",
      TIDINGS_AUTH_JWT_SECRET: TEST_JWT_SECRET,
      TIDINGS_MEMBERSHIP_ACK_TIMEOUT_SECONDS: "1",
    });
    const log = createLogger(
      { level: "error", service: "gateway", nodeId },
      { write: (line: string) => void logged.push(JSON.parse(line) as LogLine) },
    );
    node = await runGateway(config, nodeId, log, registry);
    url = `http://127.0.0.1:${port}`;
    publisher = await connectNatsBus(nats.url, { name: "fuzz-publisher" });
  });
  afterAll(async () => {
    await publisher?.close();
    await node?.stop();
    await nats?.stop();
  });

  async function client(user: string, protocol: "json" | "messagepack", targets: Iterable<string>): Promise<Client> {
    const conn = buildClient(url, { protocol, token: await mintToken({ sub: user }) });
    const c: Client = { conn, got: [], closed: false };
    // The stock client finds handlers case-insensitively: one per name, whatever its case.
    for (const target of new Set([...targets].map((t) => t.toLowerCase()))) conn.on(target, (d: { id: string }) => void c.got.push(d.id));
    conn.onclose(() => (c.closed = true));
    await conn.start();
    return c;
  }

  async function metric(sample: string): Promise<number> {
    const line = (await registry.metrics()).split("\n").find((l) => l.startsWith(`${sample} `));
    return line === undefined ? 0 : Number(line.slice(sample.length + 1));
  }

  it("a few hundred mutated node messages in both formats: each refused and logged, a duplicate, skipped as an encode failure or delivered as predicted; then a valid one arrives exactly once and both clients stay connected", async () => {
    const mutations = [...mutate(bases(MP_USER, 250, "both"), SEED), ...mutate(bases(JSON_USER, 100, "json"), SEED + 1000)];
    // Every tenth one again: a duplicate when it was accepted, refused again when not.
    const hostile = [...mutations, ...headerBreaks(MP_USER), ...mutations.filter((_, i) => i % 10 === 0)];

    // What the node must do with each message, from the decoder alone.
    const seen = new Set<string>();
    const expected = { refused: 0, duplicate: 0, delivered: 0, mpEncodeFailures: 0, mp: [] as string[], json: [] as string[] };
    const mpTargets = new Set<string>();
    const jsonTargets = new Set<string>();
    const mpAudiences = new Set([GLOBAL_AUDIENCE, userAudience(MP_USER)]);
    const jsonAudiences = new Set([GLOBAL_AUDIENCE, userAudience(JSON_USER)]);
    for (const data of hostile) {
      let m: NodeMessage;
      try {
        m = NodeMessage.read(data);
      } catch {
        expected.refused++;
        continue;
      }
      const key = `${m.audienceId}\n${m.id}`;
      if (seen.has(key)) {
        expected.duplicate++;
        continue;
      }
      seen.add(key);
      expected.delivered++;
      if (m.audienceType === 5) continue; // a connection id: none of these names a connection here
      if (mpAudiences.has(m.audienceId)) {
        try {
          const n = m.notification();
          expected.mp.push(n.id);
          mpTargets.add(n.type);
        } catch {
          expected.mpEncodeFailures++;
        }
      }
      if (jsonAudiences.has(m.audienceId)) {
        // Framed frames go to JSON clients as they are; the mutations here never aim one at the JSON client.
        expect(m.jsonFrame).toBeNull();
        const n = m.notification();
        expected.json.push(n.id);
        jsonTargets.add(n.type);
      }
    }
    // Every class of answer is exercised.
    expect(expected.refused).toBeGreaterThan(50);
    expect(expected.duplicate).toBeGreaterThan(10);
    expect(expected.mpEncodeFailures).toBeGreaterThan(10);
    expect(expected.mp.length).toBeGreaterThan(5);
    expect(expected.json.length).toBeGreaterThan(1);

    const finalMp = notification(MP_USER, "final-mp", { last: true });
    const finalJson = notification(JSON_USER, "final-json", { last: true });
    const mp = await client(MP_USER, "messagepack", [...mpTargets, finalMp.type]);
    const json = await client(JSON_USER, "json", [...jsonTargets, finalJson.type]);

    const started = performance.now();
    for (const data of hostile) publisher.publish(subjects.node(nodeId), data);
    publisher.publish(subjects.node(nodeId), encodeFramedNodeMessage(finalMp));
    publisher.publish(subjects.node(nodeId), notificationCodec.encode(finalJson));
    // The node subject is one ordered stream: the final ones come after every hostile one was handled.
    await waitFor(() => mp.got.includes("final-mp") && json.got.includes("final-json"), 10_000, "the valid notifications");
    const seconds = (performance.now() - started) / 1000;
    await sleep(300);

    expect(mp.got).toEqual([...expected.mp, "final-mp"]);
    expect(json.got).toEqual([...expected.json, "final-json"]);
    for (const c of [mp, json]) {
      expect(c.closed).toBe(false);
      expect(c.conn.state).toBe("Connected");
    }
    expect(node.ready()).toBe(true);

    const failures = logged.filter((l) => l.msg === "bus handler failed");
    expect(failures).toHaveLength(expected.refused);
    for (const f of failures) expect(f.err?.message).toMatch(DOCUMENTED);
    expect(await metric('tidings_gateway_notifications_total{result="delivered"}')).toBe(expected.delivered + 2);
    expect(await metric('tidings_gateway_notifications_total{result="duplicate"}')).toBe(expected.duplicate);
    expect(await metric('tidings_gateway_encode_failures_total{protocol="messagepack"}')).toBe(expected.mpEncodeFailures);
    expect(await metric('tidings_gateway_encode_failures_total{protocol="json"}')).toBe(0);
    // Each encode failure is a distinct (audience, id): the de-duplication let it through once.
    expect(logged.filter((l) => l.msg === "notification cannot be encoded; skipped")).toHaveLength(expected.mpEncodeFailures);
    expect(logged.filter((l) => l.msg !== "bus handler failed" && l.msg !== "notification cannot be encoded; skipped")).toEqual([]);
    console.log(
      `node-message fuzz: ${hostile.length} hostile messages in ${seconds.toFixed(2)} s: ${expected.refused} refused, ` +
        `${expected.duplicate} duplicates, ${expected.delivered} accepted (${expected.mpEncodeFailures} MessagePack encode failures, ` +
        `${expected.mp.length} + ${expected.json.length} delivered to the clients)`,
    );
    await Promise.all([mp.conn.stop(), json.conn.stop()]);
  });
});

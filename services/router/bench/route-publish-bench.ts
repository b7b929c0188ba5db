/**
 * Per-node publish cost of routing over a real nats-server, before and after pre-encoding, in ONE
 * process (alternating rounds, so machine load hits both alike; compare the ratio, not the rates):
 *
 * - before: the notification as `TextEncoder` bytes, and the trace headers converted to NATS headers
 *   and serialised by nats.js on every node publish (what the router did);
 * - after: `createRoute` on `NatsBus`: the shared notification codec's bytes, headers converted and
 *   serialised once per notification.
 *
 * Every notification goes to 8 owning nodes (the router bench's fleet averages 8.27) with a fresh
 * `traceparent` headers object, as the router passes one per notification. Nobody subscribes: this
 * is the router's client-side cost. Writes bench/results/router-publish.{json,md}.
 *
 *   pnpm --filter @tidings/router exec tsx bench/route-publish-bench.ts   (nats-server on PATH)
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { MemoryAudienceRegistry, connectNatsBus, registryDigest, toNatsHeaders } from "@tidings/bus";
import { subjects, validateEnvelope, type BusHeaders, type Notification } from "@tidings/contracts";
import { startNats } from "@tidings/testkit";
import { createRoute } from "../src/index.js";

const RESULTS_DIR = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..", "bench", "results");
const OWNERS = 8;
const KEYS = 10_000;
const ROUNDS = Number(process.env["BENCH_ROUNDS"] ?? 6);
const PER_ROUND = Number(process.env["BENCH_PER_ROUND"] ?? 20_000);

const nats = await startNats();
const bus = await connectNatsBus(nats.url, { name: "route-publish-bench" });
const nc = bus.connection;

const nodeIds = Array.from({ length: OWNERS }, (_, i) => `gw-${i}-a1b2c3`);
const keys = Array.from({ length: KEYS }, (_, i) => `group:team-${i}`);
const registry = new MemoryAudienceRegistry();
for (const nodeId of nodeIds) registry.applySnapshot({ kind: "snapshot", nodeId, seq: 0, keys, digest: registryDigest(keys) });

const notifications: Notification[] = keys.slice(0, 1000).map((key, i) => {
  const v = validateEnvelope(
    {
      id: `b-${i}`,
      type: "invoice-ready",
      body: { invoiceId: `INV-${i}`, amount: 149.99 },
      routing: { audienceType: 3, audienceValue: key.slice(6) },
      metadata: { producer: "billing" },
    },
    { now: new Date(), defaultTtlSeconds: 1800, maxNotificationBytes: 65536 },
  );
  if (!v.ok) throw new Error("bench envelope invalid");
  return v.notification;
});
const traceFor = (i: number): BusHeaders => ({ traceparent: `00-${i.toString(16).padStart(32, "0")}-${"1".repeat(16)}-01` });

const encoder = new TextEncoder();
const nodeSubjects = new Map(nodeIds.map((id) => [id, subjects.node(id)]));
/** The router's publish loop as it was (subject strings cached, as `createRoute` already did). */
function routeBefore(n: Notification, h: BusHeaders): void {
  const data = encoder.encode(JSON.stringify(n));
  for (const nodeId of registry.nodesFor(n.routing.audienceId)) {
    nc.publish(nodeSubjects.get(nodeId)!, data, { headers: toNatsHeaders(h) });
  }
}
const route = createRoute({ bus, registry });
const routeAfter = (n: Notification, h: BusHeaders) => void route(n, h);

async function round(fn: (n: Notification, h: BusHeaders) => void): Promise<{ wallMs: number; cpuMs: number }> {
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  for (let i = 0; i < PER_ROUND; i++) {
    fn(notifications[i % notifications.length]!, traceFor(i));
    if ((i & 1023) === 1023) await bus.flush();
  }
  await bus.flush();
  const cpu = process.cpuUsage(cpu0);
  return { wallMs: performance.now() - t0, cpuMs: (cpu.user + cpu.system) / 1000 };
}

const load = loadavg()[0]!;
await round(routeBefore);
await round(routeAfter);
const totals = { before: { wallMs: 0, cpuMs: 0 }, after: { wallMs: 0, cpuMs: 0 } };
const variants = { before: routeBefore, after: routeAfter };
for (let r = 0; r < ROUNDS; r++) {
  const order: Array<keyof typeof variants> = r % 2 === 0 ? ["before", "after"] : ["after", "before"];
  for (const name of order) {
    const t = await round(variants[name]);
    totals[name].wallMs += t.wallMs;
    totals[name].cpuMs += t.cpuMs;
  }
}
await bus.close();
await nats.stop();

const count = ROUNDS * PER_ROUND;
const per = (t: { wallMs: number; cpuMs: number }) => ({
  notificationsPerCpuSecond: Math.round(count / (t.cpuMs / 1000)),
  cpuMicrosPerNotification: Number(((t.cpuMs * 1000) / count).toFixed(2)),
  notificationsPerWallSecond: Math.round(count / (t.wallMs / 1000)),
});
const result = {
  benchmark: "router-publish",
  date: new Date().toISOString(),
  machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model ?? "unknown", node: process.version, loadAverage1m: Number(load.toFixed(1)) },
  setup: { ownersPerNotification: OWNERS, notifications: count, rounds: ROUNDS, headers: "one fresh traceparent object per notification" },
  before: per(totals.before),
  after: per(totals.after),
  cpuRatioAfterToBefore: Number((totals.after.cpuMs / totals.before.cpuMs).toFixed(3)),
};
mkdirSync(RESULTS_DIR, { recursive: true });
writeFileSync(join(RESULTS_DIR, "router-publish.json"), JSON.stringify(result, null, 2) + "\n");
const md = `# Router per-node publish cost over NATS (before / after pre-encoding)

\`services/router/bench/route-publish-bench.ts\` — ${result.date}, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, load average ${result.machine.loadAverage1m} (shared box).

${count.toLocaleString("en-US")} notifications per variant, each to ${OWNERS} node subjects with its own \`traceparent\`, alternating rounds in one process against a real nats-server.

| Variant | CPU µs / notification | Notifications / CPU-second |
|---|---|---|
| before: TextEncoder, headers built and serialised per node publish | ${result.before.cpuMicrosPerNotification} | ${result.before.notificationsPerCpuSecond.toLocaleString("en-US")} |
| after: createRoute on NatsBus, headers once per notification | ${result.after.cpuMicrosPerNotification} | ${result.after.notificationsPerCpuSecond.toLocaleString("en-US")} |

CPU after / before: **${result.cpuRatioAfterToBefore}**. Process CPU time (user + system) of the router side only.
`;
writeFileSync(join(RESULTS_DIR, "router-publish.md"), md);
process.stdout.write(md);

/** Markdown and SVG of the fleet simulation's results. */

export interface FleetCase {
  keys: number;
  userKeys: number;
  nodes: number;
  routers: number;
  partitions: number;
  memberships: number;
  fleetStartMs: number;
  initialLoadMs: number;
  routerHeapBytes: number[];
  routerKeys: number[];
  bytesPerKey: number;
  lookupsPerSecond: number[];
  churn: { target: number; seconds: number; achieved: number; quiesceMs: number };
  convergence: { killMapMs: number; killServedMs: number; killDeliveredMs: number; addReadyMs: number; addServedMs: number };
  probes: Array<{
    label: string;
    probes: number;
    expectedDeliveries: number;
    missed: number;
    misrouted: number;
    duplicates: number;
    probesPerSecond: number;
  }>;
  missed: number;
  misrouted: number;
}

const fmt = (n: number) => Math.round(n).toLocaleString("en");
const mib = (b: number) => (b / 2 ** 20).toFixed(1);
const avg = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length);
const max = (xs: number[]) => Math.max(...xs);

export function renderMarkdown(
  result: {
    command: string;
    startedAt: string;
    machine: { cpus: number; cpuModel: string; node: string };
    nodes: number;
    misrouted: number;
    missed: number;
    params: Record<string, unknown>;
  },
  cases: FleetCase[],
): string {
  const p = result.params;
  const lines = [
    "# Fleet simulation: sharded registry",
    "",
    `\`${result.command}\` — ${result.startedAt}, ${result.machine.cpus} × ${result.machine.cpuModel}, Node ${result.machine.node}, shared with other work.`,
    "",
    `${fmt(result.nodes)} simulated gateway nodes (real \`RegistryAnnouncer\`s in one process) and 2–16 router processes on one nats-server; ${String(p["partitions"])} partitions, heartbeat ${String(p["heartbeatMs"])} ms. **Misrouted: ${result.misrouted}, missed: ${result.missed}** over every probe of every run.`,
    "",
    "| Keys | Routers | Memberships | Router heap (max, MiB) | Keys per router (max) | Memory per key | Lookups/s per router | Initial load | Churn achieved (target) | Kill -9: map / served / delivering | Add: ready / serving | Probes/s (end to end) | Missed | Misrouted |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const c of cases) {
    lines.push(
      `| ${fmt(c.keys)} | ${c.routers} | ${fmt(c.memberships)} | ${mib(max(c.routerHeapBytes))} | ${fmt(max(c.routerKeys))} | ${c.bytesPerKey} B | ${fmt(avg(c.lookupsPerSecond))} | ${(c.initialLoadMs / 1000).toFixed(1)} s | ${fmt(c.churn.achieved)}/s (${fmt(c.churn.target)}/s) | ${(c.convergence.killMapMs / 1000).toFixed(1)} / ${(c.convergence.killServedMs / 1000).toFixed(1)} / ${(c.convergence.killDeliveredMs / 1000).toFixed(1)} s | ${(c.convergence.addReadyMs / 1000).toFixed(1)} / ${(c.convergence.addServedMs / 1000).toFixed(1)} s | ${fmt(avg(c.probes.map((x) => x.probesPerSecond)))} | ${c.missed} | ${c.misrouted} |`,
    );
  }
  lines.push(
    "",
    "![Router memory and lookups against keys and routers](fleet.svg)",
    "",
    "- **Memory per key**: the routers' heap after GC (minus the heap before start) summed over routers, over distinct keys; key strings included. Each router holds only its partitions' keys, so memory per router falls as routers are added.",
    "- **Lookups/s**: `nodesFor` plus iterating the owners, over keys of the router's own partitions, one core, while the fleet heartbeats.",
    "- **Kill -9**: from the kill until the routers' roster drops the router (missed heartbeats), until every partition is served by its new owner (after loading it from the nodes' snapshots), and until every node's acknowledgement wait has settled (nodes forget the killed router after three heartbeats) and a probe to every partition is delivered: an upper bound, as routing resumed when the partitions were served. Probes published while a partition has no consumer are lost in the simulation only: partitions are core NATS subjects here; with JetStream they wait in the stream (integration test `shard-handover.int.test.ts`).",
    "- **Add**: from spawning the router process (Node start included) until it is ready (its partitions loaded) and until it serves them after the old owners released them.",
    "- **Churn**: joins plus leaves per second actually issued by the nodes (fresh keys joining, old ones leaving); the time after it is until every router acknowledged every node's last delta.",
    "",
  );
  return lines.join("\n");
}

/** Two panels: memory and lookups against keys (fewest routers), and against routers (most common key count). */
export function renderSvg(cases: FleetCase[]): string {
  const W = 900;
  const H = 360;
  const panelW = 400;
  const panelH = 260;
  const minRouters = Math.min(...cases.map((c) => c.routers));
  const byKeys = cases.filter((c) => c.routers === minRouters).sort((a, b) => a.keys - b.keys);
  const counts = new Map<number, number>();
  for (const c of cases) counts.set(c.keys, (counts.get(c.keys) ?? 0) + 1);
  const commonKeys = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0])[0]![0];
  const byRouters = cases.filter((c) => c.keys === commonKeys).sort((a, b) => a.routers - b.routers);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="11">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
  ];
  const panel = (
    x0: number,
    title: string,
    xs: number[],
    xLabel: (v: number) => string,
    series: Array<{ name: string; color: string; ys: number[]; unit: string }>,
  ) => {
    const y0 = 50;
    parts.push(`<text x="${x0 + panelW / 2}" y="20" text-anchor="middle" font-size="13" font-weight="bold">${title}</text>`);
    parts.push(`<rect x="${x0}" y="${y0}" width="${panelW}" height="${panelH}" fill="none" stroke="#999"/>`);
    const px = (i: number) => x0 + (xs.length === 1 ? panelW / 2 : 20 + (i * (panelW - 40)) / (xs.length - 1));
    xs.forEach((v, i) => parts.push(`<text x="${px(i)}" y="${y0 + panelH + 15}" text-anchor="middle">${xLabel(v)}</text>`));
    series.forEach((s, k) => {
      const top = Math.max(...s.ys, 1) * 1.15;
      const py = (v: number) => y0 + panelH - (v / top) * panelH;
      const pts = s.ys.map((v, i) => `${px(i).toFixed(1)},${py(v).toFixed(1)}`).join(" ");
      parts.push(`<polyline points="${pts}" fill="none" stroke="${s.color}" stroke-width="2"/>`);
      s.ys.forEach((v, i) => {
        parts.push(`<circle cx="${px(i).toFixed(1)}" cy="${py(v).toFixed(1)}" r="3" fill="${s.color}"/>`);
        parts.push(`<text x="${px(i).toFixed(1)}" y="${(py(v) - 6).toFixed(1)}" text-anchor="middle" fill="${s.color}">${fmt(v)}</text>`);
      });
      parts.push(`<text x="${x0 + 8 + k * 200}" y="${y0 - 8}" fill="${s.color}">■ ${s.name} (${s.unit})</text>`);
    });
  };
  panel(
    40,
    `Against keys (${minRouters} routers)`,
    byKeys.map((c) => c.keys),
    (v) => (v >= 1e6 ? `${(v / 1e6).toFixed(v % 1e6 === 0 ? 0 : 1)}M keys` : `${fmt(v / 1000)}k keys`),
    [
      { name: "heap per router", color: "#1f77b4", ys: byKeys.map((c) => max(c.routerHeapBytes) / 2 ** 20), unit: "MiB" },
      { name: "lookups/s per router", color: "#d62728", ys: byKeys.map((c) => avg(c.lookupsPerSecond) / 1000), unit: "k/s" },
    ],
  );
  panel(
    470,
    `Against routers (${fmt(commonKeys)} keys)`,
    byRouters.map((c) => c.routers),
    (v) => `${v} routers`,
    [
      { name: "heap per router", color: "#1f77b4", ys: byRouters.map((c) => max(c.routerHeapBytes) / 2 ** 20), unit: "MiB" },
      { name: "lookups/s per router", color: "#d62728", ys: byRouters.map((c) => avg(c.lookupsPerSecond) / 1000), unit: "k/s" },
    ],
  );
  parts.push("</svg>");
  return parts.join("\n") + "\n";
}

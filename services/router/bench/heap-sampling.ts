/**
 * Bytes allocated per notification by call site: V8's sampling heap profiler over a window, objects
 * later collected by minor and major GCs included, and the GCs counted by kind.
 */
import { Session } from "node:inspector/promises";
import { PerformanceObserver, constants } from "node:perf_hooks";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  callFrame: CallFrame;
  selfSize: number;
  children: ProfileNode[];
}

export interface AllocationReport {
  total: number;
  sites: Array<{ site: string; bytes: number }>;
  scavenges: number;
  markCompacts: number;
}

export async function startSampling(
  intervalBytes = 128,
  depth = Number(process.env["ALLOC_DEPTH"] ?? 2),
): Promise<() => Promise<AllocationReport>> {
  const session = new Session();
  session.connect();
  let scavenges = 0;
  let markCompacts = 0;
  const gcs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) {
      const kind = (e as unknown as { detail: { kind: number } }).detail.kind;
      if (kind === constants.NODE_PERFORMANCE_GC_MINOR) scavenges++;
      else if (kind === constants.NODE_PERFORMANCE_GC_MAJOR) markCompacts++;
    }
  });
  gcs.observe({ entryTypes: ["gc"] });
  await session.post("HeapProfiler.enable");
  await session.post("HeapProfiler.startSampling", {
    samplingInterval: intervalBytes,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  } as never);
  return async () => {
    const { profile } = (await session.post("HeapProfiler.stopSampling")) as unknown as { profile: { head: ProfileNode } };
    gcs.disconnect();
    session.disconnect();
    const bySite = new Map<string, number>();
    let total = 0;
    const short = (f: CallFrame) =>
      `${f.functionName || "(anon)"} ${f.url.replace(/^.*\/(node_modules\/|services\/|packages\/)/, "$1")}:${f.lineNumber + 1}${f.lineNumber === 0 ? `:${f.columnNumber}` : ""}`;
    // A site is the allocating function and its callers, `depth` frames in all.
    const walk = (node: ProfileNode, callers: CallFrame[]) => {
      const frames = [node.callFrame, ...callers].slice(0, depth);
      if (node.selfSize > 0) {
        const site = frames.map(short).join(" ← ");
        bySite.set(site, (bySite.get(site) ?? 0) + node.selfSize);
        total += node.selfSize;
      }
      for (const c of node.children) walk(c, frames);
    };
    walk(profile.head, []);
    const sites = [...bySite].map(([site, bytes]) => ({ site, bytes })).sort((a, b) => b.bytes - a.bytes);
    return { total, sites, scavenges, markCompacts };
  };
}

export function printReport(label: string, r: AllocationReport, perCount: number, top = 15): void {
  console.log(
    `${label}: ${(r.total / perCount).toFixed(0)} B per notification (${perCount} notifications); ` +
      `scavenges ${r.scavenges} (${((r.scavenges * 100_000) / perCount).toFixed(1)} per 100,000), mark-compacts ${r.markCompacts}`,
  );
  for (const s of r.sites.slice(0, top)) console.log(`  ${(s.bytes / perCount).toFixed(1).padStart(8)} B  ${s.site}`);
}

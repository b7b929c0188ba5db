/** Aggregation of V8 `.cpuprofile` files (what `node --cpu-prof` writes). Pure. */

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number; columnNumber?: number };
  hitCount?: number;
  children?: number[];
}

export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export interface FunctionTime {
  key: string;
  us: number;
}

export interface ProfileReport {
  totalUs: number;
  self: FunctionTime[];
  inclusive: FunctionTime[];
}

/** `file:function:line`, with the path shortened to what follows the last `node_modules/` or the repo's package dirs. */
export function frameKey(frame: CpuProfileNode["callFrame"]): string {
  const name = frame.functionName === "" ? "(anonymous)" : frame.functionName;
  if (frame.url === "") return name;
  let path = frame.url.replace(/^file:\/\//, "");
  const nm = path.lastIndexOf("node_modules/");
  if (nm !== -1) path = path.slice(nm + "node_modules/".length).replace(/^\.pnpm\/[^/]+\/node_modules\//, "");
  else {
    const m = /\/(services|packages|bench)\/(.*)$/.exec(path);
    if (m !== null) path = `${m[1]}/${m[2]}`;
  }
  return `${path}:${name}:${frame.lineNumber + 1}`;
}

/**
 * Self and inclusive time per function key, counting only samples whose timestamp falls in one of
 * `windows` ([start, end] in the profile's microsecond clock) when given.
 */
export function aggregateProfile(profile: CpuProfile, windows: ReadonlyArray<readonly [number, number]> | null): ProfileReport {
  const byId = new Map<number, CpuProfileNode>();
  const parent = new Map<number, number>();
  for (const n of profile.nodes) {
    byId.set(n.id, n);
    for (const c of n.children ?? []) parent.set(c, n.id);
  }
  const selfByNode = new Map<number, number>();
  let t = profile.startTime;
  let totalUs = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    t += dt;
    if (windows !== null && !windows.some(([a, b]) => t >= a && t <= b)) continue;
    const id = profile.samples[i]!;
    // the delta before a sample is the time it stands for
    selfByNode.set(id, (selfByNode.get(id) ?? 0) + dt);
    totalUs += dt;
  }
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfByNode) {
    const node = byId.get(id);
    if (node === undefined) continue;
    const key = frameKey(node.callFrame);
    self.set(key, (self.get(key) ?? 0) + us);
    // each ancestor key once per sample stack (recursion is not double counted)
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const k = frameKey(byId.get(cur)!.callFrame);
      if (seen.has(k)) continue;
      seen.add(k);
      inclusive.set(k, (inclusive.get(k) ?? 0) + us);
    }
  }
  const sorted = (m: Map<string, number>) => [...m].map(([key, us]) => ({ key, us })).sort((a, b) => b.us - a.us);
  return { totalUs, self: sorted(self), inclusive: sorted(inclusive) };
}

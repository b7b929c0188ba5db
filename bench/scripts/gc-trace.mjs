// Loaded with `--import` into every Node process of an `e2e-probe` run with PROBE_TRACE_DIR (through NODE_OPTIONS):
// appends each garbage collection's main-thread pause to `$E2E_TRACE_DIR/gc-<label>-<pid>.txt`, one line
// "<start, ms since the epoch> <duration ms> <kind>" (kind: perf_hooks' NODE_PERFORMANCE_GC_* bit). A Tidings
// process is named by TIDINGS_ROLE and TIDINGS_NODE_ID, a bench process by its script (and a floor process's role).
// Plain JavaScript: it loads before the tsx loader. Worker threads (tsx's own) are not traced.
import { appendFileSync } from "node:fs";
import { basename } from "node:path";
import { PerformanceObserver, performance } from "node:perf_hooks";
import { isMainThread } from "node:worker_threads";

const dir = process.env.E2E_TRACE_DIR;
if (dir !== undefined && dir !== "" && isMainThread) {
  const file = `${dir}/gc-${label()}-${process.pid}.txt`;
  let lines = [];
  const flush = () => {
    if (lines.length > 0) appendFileSync(file, lines.join(""));
    lines = [];
  };
  new PerformanceObserver((list) => {
    for (const e of list.getEntries())
      lines.push(`${(performance.timeOrigin + e.startTime).toFixed(2)} ${e.duration.toFixed(3)} ${e.detail.kind}\n`);
  }).observe({ entryTypes: ["gc"] });
  setInterval(flush, 1000).unref();
  process.on("exit", flush);
}

function label() {
  const role = process.env.TIDINGS_ROLE;
  if (role !== undefined) return `tidings-${role === "gateway" ? (process.env.TIDINGS_NODE_ID ?? "gateway") : role}`;
  const script = basename(process.argv[1] ?? "node").replace(/\.[cm]?[jt]s$/, "");
  let floorRole = "";
  try {
    const args = JSON.parse(process.argv[2] ?? "{}");
    if (script === "floor" && typeof args.role === "string")
      floorRole = `-${args.role}${typeof args.node === "number" ? `-${args.node + 1}` : ""}`;
  } catch {
    // not a bench child's JSON argument
  }
  return `bench-${script}${floorRole}`;
}

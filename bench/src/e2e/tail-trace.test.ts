import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { LateLog, attribute, natsGcWriter, readTrace } from "./tail-trace.js";

const dirs: string[] = [];
const newDir = () => {
  const d = mkdtempSync(join(tmpdir(), "tail-trace-test-"));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe("attribute", () => {
  const span = { first: 1000, last: 2000, count: 100 };

  it("counts a late delivery against every process paused while it was in flight, and apart when none was", () => {
    const a = attribute(
      [
        { sentMs: 1100, receiptMs: 1120 }, // router and client paused
        { sentMs: 1500, receiptMs: 1510 }, // the client only
        { sentMs: 1800, receiptMs: 1806 }, // nothing
      ],
      [
        { process: "tidings-router", startMs: 1110, endMs: 1112 },
        { process: "bench-latency-client", startMs: 1119, endMs: 1130 },
        { process: "bench-latency-client", startMs: 1505, endMs: 1506 },
        { process: "tidings-bench-gw-1", startMs: 1200, endMs: 1300 }, // between deliveries
        { process: "tidings-store", startMs: 100, endMs: 200 }, // before the case
      ],
      span,
    );
    expect(a.late).toBe(3);
    expect(a.noTidingsPause).toBe(2);
    expect(a.noPause).toBe(1);
    expect(a.processes.map((p) => [p.process, p.pauses, p.late])).toEqual([
      ["bench-latency-client", 2, 2],
      ["tidings-bench-gw-1", 1, 0],
      ["tidings-router", 1, 1],
    ]);
    expect(a.processes.find((p) => p.process === "tidings-bench-gw-1")!.pausedMs).toBe(100);
  });

  it("takes a run's worth of late deliveries and pauses (no argument spreads)", () => {
    const late = Array.from({ length: 300_000 }, (_, i) => ({ sentMs: 1000 + i / 300, receiptMs: 1010 + i / 300 }));
    const pauses = Array.from({ length: 200_000 }, (_, i) => ({
      process: "tidings-router",
      startMs: 1000 + i / 200,
      endMs: 1000.001 + i / 200,
    }));
    expect(attribute(late, pauses, span).processes[0]!.pauses).toBe(200_000);
  });

  it("touching is not overlapping: a pause that ends at the send or starts at the receipt is not in flight", () => {
    const a = attribute(
      [{ sentMs: 1100, receiptMs: 1120 }],
      [
        { process: "tidings-router", startMs: 1090, endMs: 1100 },
        { process: "tidings-router", startMs: 1120, endMs: 1125 },
      ],
      span,
    );
    expect(a.noPause).toBe(1);
  });
});

describe("trace files", () => {
  it("reads the GC logs, nats-server's gctrace lines and the late log of each case", () => {
    const dir = newDir();
    const write = natsGcWriter(dir);
    // a line split across two chunks, and the server's other output, which is dropped
    write("[1] 2026/12/07 [INF] Server is ready\ngc 7 @3.2s 1%: 0.5+8.0+0.5 ms clo");
    write("ck, 1.0+0.1/0.2/0.3+1.0 ms cpu, 4->4->2 MB, 4 MB goal, 2 P\n");
    const natsLine = readFileSync(join(dir, "nats-gc.txt"), "utf8");
    expect(natsLine).toMatch(/^\d+ gc 7 @3\.2s/);
    const arrival = Number(natsLine.split(" ")[0]);
    writeFileSync(join(dir, "gc-tidings-router-123.txt"), `${arrival - 100} 2.000 1\n`);

    const log = new LateLog(dir);
    log.record(4, arrival - 200, 1); // on time: counted only
    log.record(4, arrival - 90, 15); // in flight from arrival − 105: the router's pause
    log.record(4, arrival - 2, 30); // from arrival − 32: nats-server's GC cycle, [arrival − 9, arrival]
    log.close();
    const a = readTrace(dir).get(4)!;
    expect(a.measured).toBe(3);
    expect(a.late).toBe(2);
    expect(a.processes.map((p) => [p.process, p.late])).toEqual([
      ["nats-server (GC cycle)", 1],
      ["tidings-router", 1],
    ]);
    expect(a.noPause).toBe(0);
  });
});

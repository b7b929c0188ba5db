import { describe, expect, it } from "vitest";
import { clientFrame } from "../client/frames.js";
import { benchEnvelope, dueBy, readBenchFields } from "./payload.js";
import { e2eRows, type E2eCase } from "../harness/e2e-latency.js";

describe("e2e payload", () => {
  it("builds a valid producer envelope per audience", () => {
    const g = JSON.parse(benchEnvelope("run1", 3, 7, "group", 5, 1712345678901.1234)) as Record<string, unknown>;
    expect(g).toStrictEqual({
      id: "run1-7",
      type: "bench",
      body: { benchCase: 3, benchSeq: 7, benchTs: 1712345678901.123 },
      routing: { audienceType: 3, audienceValue: "g-2" },
      metadata: { producer: "bench-e2e" },
    });
    const gl = JSON.parse(benchEnvelope("run1", 3, 0, "global", 5, 1)) as { routing: unknown };
    expect(gl.routing).toStrictEqual({ audienceType: 1 });
  });

  it("reads sequence and send time back out of a delivered SignalR record", () => {
    const n = JSON.parse(benchEnvelope("c", 2, 123456, "global", 1, 1712345678901.5)) as Record<string, unknown>;
    const record = Buffer.from(`xx{"type":1,"target":"bench","arguments":[${JSON.stringify({ ...n, audienceId: "global" })}]}\x1e`);
    expect(readBenchFields(record, 2, record.length - 1)).toStrictEqual({ caseNo: 2, seq: 123456, sentMs: 1712345678901.5 });
    expect(readBenchFields(Buffer.from('{"type":6}'), 0, 10)).toBeNull();
    // a key beyond the record's end does not count
    const two = Buffer.from('{"type":6}\x1e{"benchCase":1,"benchSeq":1,"benchTs":2}');
    expect(readBenchFields(two, 0, 10)).toBeNull();
    expect(clientFrame(Buffer.from("x")).length).toBe(7);
  });

  it("paces sends on a fixed schedule", () => {
    expect(dueBy(0, 5000, 100)).toBe(1);
    expect(dueBy(1, 5000, 100)).toBe(6);
    expect(dueBy(1000, 5000, 100)).toBe(100);
  });
});

describe("e2e rows", () => {
  const base = (
    target: "cluster" | "standalone" | "floor",
    mode: "http" | "jetstream",
    p99: number,
    cpu: Record<string, number>,
  ): E2eCase =>
    ({
      target,
      diagnostic: false,
      sweep: false,
      audience: "group",
      mode,
      connections: 10,
      groups: 2,
      rate: 100,
      total: 10,
      warmup: 1,
      latencyMs: { p50: 1, p90: 2, p99, p999: 8, max: 9, mean: 1 },
      samples: 90,
      deliveries: { expected: 90, received: 90, lost: 0, duplicates: 0, warmupLost: 0, foreign: 0, closedByServer: 0 },
      cpuPercent: {},
      cpuUsPerNotification: cpu,
    }) as E2eCase;

  it("compares each cluster and standalone case with the floor of the same audience; the target applies to the cluster", () => {
    const rows = e2eRows([
      base("cluster", "jetstream", 6, { router: 30, "producer-jetstream": 20, "producer-http": 1, "stage-tap": 5 }),
      base("floor", "jetstream", 2, { router: 10, "producer-jetstream": 15 }),
      base("standalone", "http", 3, { standalone: 40, "producer-http": 20 }),
    ]);
    const p99 = rows.filter((r) => r.metric === "p99 latency");
    const cluster = p99.find((r) => r.case.startsWith("cluster"))!;
    expect(cluster.value).toBe(6);
    expect(cluster.baseline).toStrictEqual({ name: "floor (bare NATS + uWS)", value: 2 });
    expect(cluster.ratio).toBe(3);
    expect(cluster.target).toStrictEqual({ op: "<=", value: 5, on: "value" });
    expect(p99.find((r) => r.case.startsWith("standalone"))!.target).toBeUndefined();
    // the idle producer of the other mode and the stage tap are not on the path
    const cpu = rows.find((r) => r.metric === "CPU per notification, all processes" && r.case.startsWith("cluster"))!;
    expect(cpu.value).toBe(50);
    expect(cpu.baseline?.value).toBe(25);
    expect(rows.filter((r) => r.metric === "delivered / lost / dup")).toHaveLength(3);
  });

  it("takes the stage timings of a measured cluster case from its stage run, which adds no latency rows of its own", () => {
    const stage = (p50: number, p99: number) => ({ p50, p90: p99, p99, p999: p99, max: p99, mean: p50 });
    const rows = e2eRows([
      base("cluster", "jetstream", 6, { router: 30 }),
      {
        ...base("cluster", "jetstream", 60, { router: 31, "stage-tap": 5 }),
        diagnostic: true,
        stages: { ingest: stage(1, 4), routed: stage(2, 7) },
      },
      base("floor", "jetstream", 2, { router: 10 }),
    ]);
    expect(rows.filter((r) => r.metric === "p99 latency").map((r) => r.value)).toEqual([6, 2]);
    const ingest = rows.find((r) => r.metric === "p99 send → ingest subject (stage run)")!;
    expect([ingest.case, ingest.value, ingest.note]).toEqual(["cluster, Group (10 conns, 2 groups), JetStream direct", 4, "p50 1 ms"]);
    expect(rows.find((r) => r.metric === "p99 send → node subject, router out (stage run)")!.value).toBe(7);
    expect(rows.filter((r) => r.metric === "delivered / lost / dup")).toHaveLength(2);
  });

  it("compares a run at a lower rate with the floor at that rate, without the target, and keeps it out of the measured rows", () => {
    const at = (target: "cluster" | "floor", rate: number, p99: number): E2eCase => ({
      ...base(target, "jetstream", p99, { router: 1 }),
      rate,
      sweep: true,
    });
    const rows = e2eRows([
      base("cluster", "jetstream", 6, { router: 30 }),
      base("floor", "jetstream", 2, { router: 10 }),
      at("cluster", 50, 3),
      at("floor", 50, 1.5),
      at("cluster", 20, 1),
      at("floor", 20, 0.5),
    ]);
    const p99 = rows.filter((r) => r.metric === "p99 latency");
    expect(p99.map((r) => [r.case, r.value, r.baseline?.value, r.target])).toEqual([
      ["cluster, Group (10 conns, 2 groups), JetStream direct", 6, 2, { op: "<=", value: 5, on: "value" }],
      ["cluster, Group (10 conns, 2 groups), JetStream direct, at 50/s", 3, 1.5, undefined],
      ["cluster, Group (10 conns, 2 groups), JetStream direct, at 20/s", 1, 0.5, undefined],
      ["floor, Group (10 conns, 2 groups), JetStream direct", 2, undefined, undefined],
      ["floor, Group (10 conns, 2 groups), JetStream direct, at 50/s", 1.5, undefined, undefined],
      ["floor, Group (10 conns, 2 groups), JetStream direct, at 20/s", 0.5, undefined, undefined],
    ]);
    expect(rows.filter((r) => r.metric === "delivered / lost / dup")).toHaveLength(6);
  });
});

import { describe, expect, it } from "vitest";
import { AddressPool, split } from "./addresses.js";
import { parseCli } from "./cli.js";
import { aggregateProfile, frameKey, type CpuProfile } from "./profile.js";
import {
  FrameReader,
  classifySocketIo,
  clientFrame,
  countCentrifugo,
  countJsonRecords,
  countMsgpackRecords,
  newCounts,
} from "./client/frames.js";
import { procCpuUs, procRunQueueWait } from "./server/centrifugo.js";
import { toDelivered } from "@tidings/contracts";
import { jsonProtocol } from "@tidings/protocol";
import { benchEnvelope, benchFrame, benchNotifications, userFrame, type BenchUserEnvelope } from "./payload.js";

function serverFrame(payload: Buffer, opcode = 1): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, payload]);
}

describe("frame counting", () => {
  it("counts JSON invocations and pings by their type digit", () => {
    const c = newCounts();
    const buf = Buffer.from('{"type":1,"target":"x","arguments":[{}]}\x1e{"type":6}\x1e{"type":1,"target":"y","arguments":[]}\x1e');
    countJsonRecords(buf, 0, buf.length, c);
    expect(c).toEqual({ notifications: 2, pings: 1, other: 0 });
  });

  it("counts MessagePack messages behind varint lengths", () => {
    const c = newCounts();
    const invocation = Buffer.concat([Buffer.from([0x96, 0x01, 0x80, 0xc0]), Buffer.alloc(200, 0xa0)]);
    const ping = Buffer.from([0x91, 0x06]);
    const varint = (n: number) => (n < 128 ? Buffer.from([n]) : Buffer.from([(n & 0x7f) | 0x80, n >> 7]));
    const buf = Buffer.concat([varint(invocation.length), invocation, varint(ping.length), ping]);
    countMsgpackRecords(buf, 0, buf.length, c);
    expect(c).toEqual({ notifications: 1, pings: 1, other: 0 });
  });

  it("counts newline-separated Centrifugo pushes and pings in one frame", () => {
    const c = newCounts();
    const push = '{"push":{"channel":"global","pub":{"data":{"a":1}}}}';
    const buf = Buffer.from(`xx${push}\n{}\n${push}\n{"id":2,"subscribe":{}}yy`);
    expect(countCentrifugo(buf, 2, buf.length - 2, c)).toBe(1);
    expect(c).toEqual({ notifications: 2, pings: 1, other: 1 });
  });

  it("reads a process's CPU time from /proc", () => {
    const cpu = procCpuUs(process.pid);
    expect(cpu.userUs).toBeGreaterThanOrEqual(0);
    expect(cpu.userUs + cpu.systemUs).toBeLessThanOrEqual((process.cpuUsage().user + process.cpuUsage().system) * 1.1 + 20_000);
  });

  it("reads a process's run-queue wait from /proc: each wake-up from a sleep is one more time on a core", async () => {
    const before = procRunQueueWait(process.pid, true);
    for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 2));
    const after = procRunQueueWait(process.pid, true);
    expect(after.slices - before.slices).toBeGreaterThanOrEqual(10);
    expect(after.waitUs).toBeGreaterThanOrEqual(before.waitUs);
    const all = procRunQueueWait(process.pid, false);
    expect(all.slices).toBeGreaterThan(after.slices);
    expect(all.waitUs).toBeGreaterThanOrEqual(after.waitUs);
  });

  it("reads frames split across chunks", () => {
    const a = serverFrame(Buffer.from("hello"));
    const b = serverFrame(Buffer.alloc(300, 0x61), 2);
    const stream = Buffer.concat([a, b]);
    const seen: Array<[number, number]> = [];
    const reader = new FrameReader();
    for (let i = 0; i < stream.length; i += 7) reader.push(stream.subarray(i, i + 7), (op, _buf, s, e) => seen.push([op, e - s]));
    expect(seen).toEqual([
      [1, 5],
      [2, 300],
    ]);
    expect(reader.buffered).toBe(0);
  });

  it("writes masked client frames with a zero key", () => {
    const f = clientFrame(Buffer.from("40"));
    expect([...f]).toEqual([0x81, 0x82, 0, 0, 0, 0, 0x34, 0x30]);
    expect(clientFrame(Buffer.alloc(200)).subarray(0, 4)).toEqual(Buffer.from([0x81, 0xfe, 0, 200]));
  });

  it("classifies Socket.IO packets", () => {
    const k = (s: string) => classifySocketIo(Buffer.from(s), 0, s.length);
    expect(k('42["n",{}]')).toBe("event");
    expect(k("2")).toBe("ping");
    expect(k('0{"sid":"x"}')).toBe("open");
    expect(k('40{"sid":"y"}')).toBe("connected");
    expect(k("41")).toBe("other");
  });
});

describe("one-receiver baselines' frame", () => {
  it("is, written from the envelope as received or from the validated notification, the bytes the gateway sends", () => {
    for (const user of ["one-user-0-0", 'q"uote\\é\u2028']) {
      const gateway = Buffer.from(benchFrame("json", user)).toString("utf8");
      const e = JSON.parse(JSON.stringify(benchEnvelope(0, user))) as BenchUserEnvelope;
      const timeStamp = /"timeStamp":"([^"]+)"/.exec(gateway)![1]!;
      expect(userFrame(e.id, e.type, e.body, e.routing.audienceValue, e.metadata.producer, timeStamp)).toBe(gateway);
      const [n] = benchNotifications(1, [user]);
      expect(userFrame(n!.id, n!.type, n!.body, n!.routing.audienceValue, n!.metadata.producer, n!.metadata.timeStamp)).toBe(
        Buffer.from(jsonProtocol.encodeNotification(n!.type, toDelivered(n!, false))).toString("utf8"),
      );
    }
  });
});

describe("addresses", () => {
  it("hands out distinct loopback addresses", () => {
    const pool = new AddressPool(42);
    expect(pool.takeMany(3)).toEqual(["127.42.0.1", "127.42.0.2", "127.42.0.3"]);
    const more = pool.takeMany(300);
    expect(more[247]).toBe("127.42.1.1");
    expect(new Set(more).size).toBe(300);
  });

  it("splits totals evenly", () => {
    expect(split(20_000, 2)).toEqual([10_000, 10_000]);
    expect(split(19_907, 2)).toEqual([9954, 9953]);
    expect(split(5, 3)).toEqual([2, 2, 1]);
  });
});

describe("command line", () => {
  it("parses flags", () => {
    expect(parseCli(["--quick", "--only", "peers,idle-rss", "--reps", "2"])).toEqual({
      quick: true,
      only: ["peers", "idle-rss"],
      reps: 2,
      profile: false,
      summaryOnly: false,
    });
    expect(parseCli(["--", "--only=connect-rate", "--profile"])).toMatchObject({ only: ["connect-rate"], profile: true, quick: false });
  });
});

describe("profiles", () => {
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: { functionName: "(root)", url: "", lineNumber: -1 }, children: [2] },
      {
        id: 2,
        callFrame: { functionName: "deliver", url: "file:///work/main/services/gateway/src/fanout.ts", lineNumber: 9 },
        children: [3],
      },
      { id: 3, callFrame: { functionName: "encode", url: "file:///x/node_modules/.pnpm/a@1/node_modules/a/index.js", lineNumber: 0 } },
    ],
    startTime: 1000,
    endTime: 1040,
    samples: [2, 3, 3, 1],
    timeDeltas: [10, 10, 10, 10],
  };

  it("names frames by short path, function and line", () => {
    expect(frameKey(profile.nodes[1]!.callFrame)).toBe("services/gateway/src/fanout.ts:deliver:10");
    expect(frameKey(profile.nodes[2]!.callFrame)).toBe("a/index.js:encode:1");
  });

  it("sums self and inclusive time, optionally inside windows", () => {
    const all = aggregateProfile(profile, null);
    expect(all.totalUs).toBe(40);
    expect(all.self[0]).toEqual({ key: "a/index.js:encode:1", us: 20 });
    expect(all.inclusive.find((f) => f.key.includes("deliver"))?.us).toBe(30);
    const windowed = aggregateProfile(profile, [[1015, 1025]]);
    expect(windowed.totalUs).toBe(10);
  });
});

import { describe, expect, it } from "vitest";
import { hostProbe, machineInfo } from "./results.js";

describe("host probe", () => {
  it("times five runs of the same native work, in ms", () => {
    const samples = hostProbe();
    expect(samples).toHaveLength(5);
    for (const ms of samples) {
      expect(ms).toBeGreaterThan(0);
      expect(Number.isInteger(ms * 10)).toBe(true);
    }
  });

  it("is recorded after the harness only when it was sampled before it", () => {
    expect(machineInfo([0, 0, 0]).hostProbeAfter).toBeUndefined();
    const info = machineInfo([0, 0, 0], [40]);
    expect(info.hostProbeBefore).toEqual([40]);
    expect(info.hostProbeAfter).toHaveLength(5);
  });
});

import { fc } from "@tidings/fuzzing";
import { describe, expect, it } from "vitest";
import { isLoopbackAddress, statusLine } from "./respond.js";

const v4 = (...b: number[]) => new Uint8Array(b);
const v6 = (words: number[]) => {
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
};

/** The address as uWS formats it (`getRemoteAddressAsText`: dotted quad, or eight 4-digit hex groups). */
function asText(a: Uint8Array): string {
  if (a.length === 4) return [...a].join(".");
  const groups: string[] = [];
  for (let i = 0; i < 16; i += 2) groups.push(((a[i]! << 8) | a[i + 1]!).toString(16).padStart(4, "0"));
  return groups.join(":");
}

/** The rule as it was stated on the address's text, the oracle for the byte-wise check. */
function loopbackByText(addr: string): boolean {
  return (
    addr.startsWith("127.") ||
    addr === "::1" ||
    addr === "0000:0000:0000:0000:0000:0000:0000:0001" ||
    addr.startsWith("::ffff:127.") ||
    addr.startsWith("0000:0000:0000:0000:0000:ffff:7f")
  );
}

describe("isLoopbackAddress: the keyless-ingest peer check on the address's bytes", () => {
  it("accepts 127.0.0.0/8, ::1 and IPv4-mapped 127.0.0.0/8; refuses every other address", () => {
    expect(isLoopbackAddress(v4(127, 0, 0, 1))).toBe(true);
    expect(isLoopbackAddress(v4(127, 255, 3, 9))).toBe(true);
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0, 0, 1]))).toBe(true);
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 0x0001]))).toBe(true);
    expect(isLoopbackAddress(v4(10, 0, 0, 1))).toBe(false);
    expect(isLoopbackAddress(v4(192, 0, 2, 2))).toBe(false);
    expect(isLoopbackAddress(v4(0, 0, 0, 0))).toBe(false);
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0, 0, 2]))).toBe(false);
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0, 0, 0]))).toBe(false);
    expect(isLoopbackAddress(v6([0xfd00, 0, 0, 0, 0, 0, 0, 1]))).toBe(false);
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0xffff, 0x0a00, 0x0001]))).toBe(false); // ::ffff:10.0.0.1
    expect(isLoopbackAddress(v6([0, 0, 0, 0, 0, 0, 0x7f00, 0x0001]))).toBe(false); // ::127.0.0.1 (deprecated compatible form)
    expect(isLoopbackAddress(new Uint8Array(0))).toBe(false); // uWS gives no bytes for a socket without a peer
  });

  it("decides as the rule on the address's text does, for any IPv4 or IPv6 address", () => {
    const mappedOrNear = fc
      .tuple(fc.uint8Array({ minLength: 4, maxLength: 4 }), fc.constantFrom(0x0000, 0xffff, 0xfffe, 0x00ff))
      .map(([b, w]) => v6([0, 0, 0, 0, 0, w, (b[0]! << 8) | b[1]!, (b[2]! << 8) | b[3]!]));
    const address = fc.oneof(
      fc.uint8Array({ minLength: 4, maxLength: 4 }),
      fc.uint8Array({ minLength: 16, maxLength: 16 }),
      mappedOrNear,
      fc.uint8Array({ minLength: 4, maxLength: 4 }).map((b) => v4(127, b[1]!, b[2]!, b[3]!)),
    );
    fc.assert(fc.property(address, (a) => isLoopbackAddress(a) === loopbackByText(asText(a))));
  });
});

describe("statusLine", () => {
  it("carries the standard reason phrase, and the bare code for a status without one", () => {
    expect(statusLine(202)).toBe("202 Accepted");
    expect(statusLine(413)).toBe("413 Payload Too Large");
    expect(statusLine(299)).toBe("299");
  });
});

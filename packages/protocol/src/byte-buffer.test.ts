import { describe, expect, it } from "vitest";
import { ByteBuffer } from "./byte-buffer.js";
import { hex, toHex } from "./test-support.js";

describe("ByteBuffer", () => {
  it("appends copies, so the caller may reuse its chunk", () => {
    const buffer = new ByteBuffer();
    const chunk = hex("01 02");
    buffer.append(chunk);
    chunk.fill(0);
    buffer.append(hex("03"));
    expect(toHex(buffer.view())).toBe("01 02 03");
    expect(buffer.length).toBe(3);
  });

  it("grows past its initial capacity byte by byte", () => {
    const buffer = new ByteBuffer();
    for (let i = 0; i < 1000; i++) buffer.append(Uint8Array.of(i & 0xff));
    expect(buffer.length).toBe(1000);
    expect(buffer.view()[999]).toBe(999 & 0xff);
  });

  it("discards a prefix and clears", () => {
    const buffer = new ByteBuffer();
    buffer.append(hex("01 02 03 04"));
    buffer.discard(3);
    expect(toHex(buffer.view())).toBe("04");
    buffer.discard(5);
    expect(buffer.length).toBe(0);
    buffer.append(hex("05"));
    buffer.clear();
    expect(buffer.length).toBe(0);
    expect(buffer.view().length).toBe(0);
  });
});

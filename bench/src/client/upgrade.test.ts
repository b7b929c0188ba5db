import { describe, expect, it } from "vitest";
import { UpgradeReader } from "./upgrade.js";

describe("raw client upgrade answer", () => {
  it("waits for the whole head across chunks and hands back the frame bytes after it", () => {
    const reader = new UpgradeReader();
    expect(reader.push(Buffer.from("HTTP/1.1 101 Switching Protocols\r\nUpgrade: web"))).toBeUndefined();
    expect(reader.push(Buffer.from("socket\r\n\r"))).toBeUndefined();
    const answer = reader.push(Buffer.concat([Buffer.from("\n"), Buffer.from([0x81, 0x03, 0x7b, 0x7d, 0x1e])]));
    expect(answer?.switched).toBe(true);
    expect(answer?.status).toBe("HTTP/1.1 101 Switching Protocols");
    expect([...answer!.rest]).toEqual([0x81, 0x03, 0x7b, 0x7d, 0x1e]);
  });

  it("reports a refused upgrade with its status line", () => {
    const answer = new UpgradeReader().push(Buffer.from("HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n"));
    expect(answer).toEqual({ switched: false, status: "HTTP/1.1 401 Unauthorized", rest: Buffer.alloc(0) });
  });
});

import { describe, expect, it } from "vitest";
import { KeyedSerial } from "./keyed-serial.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("KeyedSerial", () => {
  it("runs one key's tasks in order, even when an earlier one is slower", async () => {
    const serial = new KeyedSerial();
    const done: number[] = [];
    await Promise.all([
      serial.run("k", async () => {
        await sleep(30);
        done.push(1);
      }),
      serial.run("k", async () => {
        done.push(2);
      }),
    ]);
    expect(done).toEqual([1, 2]);
  });

  it("runs different keys concurrently", async () => {
    const serial = new KeyedSerial();
    const done: string[] = [];
    await Promise.all([
      serial.run("a", async () => {
        await sleep(30);
        done.push("a");
      }),
      serial.run("b", async () => {
        done.push("b");
      }),
    ]);
    expect(done).toEqual(["b", "a"]);
  });

  it("keeps going after a rejection and forgets idle keys", async () => {
    const serial = new KeyedSerial();
    const failed = serial.run("k", () => Promise.reject(new Error("x")));
    const next = serial.run("k", async () => "ok");
    await expect(failed).rejects.toThrow("x");
    await expect(next).resolves.toBe("ok");
    await sleep(0);
    expect(serial.size).toBe(0);
  });
});

import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nkeys } from "@nats-io/nats-core";
import { startNats, type NatsServer } from "@tidings/testkit";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectNatsBus } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "tidings-nkey-"));
const user = nkeys.createUser();
const seedFile = join(dir, "user.nk");
let server: NatsServer;

beforeAll(async () => {
  writeFileSync(seedFile, `${new TextDecoder().decode(user.getSeed())}\n`);
  const conf = join(dir, "server.conf");
  writeFileSync(conf, `authorization { users = [ { nkey: ${user.getPublicKey()} } ] }\n`);
  server = await startNats({ extraArgs: ["-c", conf] });
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("NATS authentication from files (TIDINGS_NATS_NKEY_SEED_FILE)", () => {
  it("connects to a server that requires an nkey user when given the seed file, and is refused without it", async () => {
    const bus = await connectNatsBus(server.url, { security: { natsNkeySeedFile: seedFile } });
    try {
      await bus.flush();
      expect(bus.connection.isClosed()).toBe(false);
    } finally {
      await bus.close();
    }
    await expect(connectNatsBus(server.url)).rejects.toThrow(/Authorization|authorization/);
  });
});

import { afterAll, beforeAll } from "vitest";
import { startNats, type NatsServer } from "@tidings/testkit";
import { connectNatsBus, type NatsBus } from "../src/index.js";
import { describeBusConformance } from "@tidings/testkit/conformance";

let server: NatsServer;
beforeAll(async () => {
  server = await startNats();
});
afterAll(async () => {
  await server.stop();
});

describeBusConformance("NatsBus", async () => {
  const buses: NatsBus[] = [];
  return {
    async connect(opts) {
      const bus = await connectNatsBus(server.url, { onError: opts?.onError ?? (() => undefined) });
      buses.push(bus);
      return bus;
    },
    async dispose() {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});

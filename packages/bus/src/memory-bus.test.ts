import { MemoryBus } from "./memory-bus.js";
import { describeBusConformance } from "@tidings/testkit/conformance";

describeBusConformance("MemoryBus", async () => {
  const buses: MemoryBus[] = [];
  const shared = new MemoryBus({ onError: () => undefined });
  buses.push(shared);
  return {
    // One process, one message space: every "connection" is the shared bus, except that a custom
    // error handler needs a bus of its own.
    async connect(opts) {
      if (opts?.onError === undefined) return shared;
      const own = new MemoryBus({ onError: opts.onError });
      buses.push(own);
      return own;
    },
    async dispose() {
      await Promise.all(buses.map((b) => b.close()));
    },
  };
});

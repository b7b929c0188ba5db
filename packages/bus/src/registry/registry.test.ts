import { MemoryBus } from "../memory-bus.js";
import { describeRegistryScenarios } from "../../test/registry-scenarios.js";

describeRegistryScenarios("MemoryBus", async () => {
  const bus = new MemoryBus();
  return { connect: async () => bus, dispose: () => bus.close() };
});

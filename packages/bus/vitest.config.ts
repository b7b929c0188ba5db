import { defineConfig } from "vitest/config";

// Integration tests start real nats-server processes and wait on JetStream redelivery timers.
export default defineConfig({
  test: {
    // Two files at a time even on a 2-core machine (vitest's default there is one): they mostly wait.
    maxWorkers: 2,
    minWorkers: 1,
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});

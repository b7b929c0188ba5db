import { defineConfig } from "vitest/config";

// Integration tests run nats-server and router processes, kill and restart them, and wait for
// JetStream redeliveries: mostly waiting, so two files run at a time even on a 2-core machine
// (vitest's default there is one).
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    minWorkers: 1,
  },
});

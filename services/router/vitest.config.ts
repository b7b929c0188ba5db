import { defineConfig } from "vitest/config";

// Integration tests run nats-server and router processes, kill and restart them, and wait for
// JetStream redeliveries.
export default defineConfig({
  test: {
    testTimeout: 120_000,
    hookTimeout: 60_000,
  },
});

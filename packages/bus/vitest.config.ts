import { defineConfig } from "vitest/config";

// Integration tests start real nats-server processes and wait on JetStream redelivery timers.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 30_000,
  },
});

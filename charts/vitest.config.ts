import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts"],
    // Every test shells out to helm; a cold helm binary takes a moment.
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

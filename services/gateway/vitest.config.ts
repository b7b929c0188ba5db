import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    testTimeout: 20_000,
    hookTimeout: 20_000,
    // Two files at a time even on a 2-core machine (vitest's default there is one): several files
    // mostly wait (W-LP-03 holds a poll for its real 90 s default), so they overlap with busy ones.
    maxWorkers: 2,
    minWorkers: 1,
  },
});

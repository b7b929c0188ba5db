import { defineConfig } from "vitest/config";

// Integration tests start a real PostgreSQL server and PGlite (WebAssembly, a few seconds to
// initialise on a busy machine), so hooks and tests get generous time.
export default defineConfig({
  test: {
    testTimeout: 60_000,
    hookTimeout: 120_000,
  },
});

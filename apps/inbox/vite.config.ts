import { defineConfig } from "vite";

// Served by the gateway under /inbox (pnpm start); the build goes to dist/, which it reads at start.
export default defineConfig({
  base: "/inbox/",
  logLevel: "warn",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    rollupOptions: {
      // @microsoft/signalr's ESM build carries /*#__PURE__*/ comments Rollup cannot place; harmless.
      onwarn: (warning, warn) => void (warning.code === "INVALID_ANNOTATION" ? undefined : warn(warning)),
    },
  },
});

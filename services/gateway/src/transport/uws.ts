import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);

export class NativeUwsUnavailableError extends Error {
  override readonly name = "NativeUwsUnavailableError";
}

/**
 * Loads uWebSockets.js and guarantees the native addon is the one in use. The prebuilt package we
 * install silently falls back to a pure-JS shim when its binary does not match the Node ABI; that
 * shim is an order of magnitude slower and lacks C++ topic fan-out, so the gateway refuses to run on it.
 */
export function loadNativeUws(): typeof Uws {
  if (process.env["UWS_USE_FALLBACK"] !== undefined && process.env["UWS_USE_FALLBACK"] !== "") {
    throw new NativeUwsUnavailableError("UWS_USE_FALLBACK is set: unset it, the gateway runs only on the native uWebSockets.js build");
  }
  const originalWarn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  let uws: typeof Uws;
  try {
    uws = require("uWebSockets.js") as typeof Uws;
  } finally {
    console.warn = originalWarn;
  }
  const nativeLoaded = Object.keys(require.cache).some((path) => path.endsWith(".node") && path.includes("uws_"));
  if (!nativeLoaded) {
    throw new NativeUwsUnavailableError(
      `uWebSockets.js native binary did not load for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}); ` +
        `the gateway will not run on the slow JS fallback. ${warnings.join(" ").trim()}`.trim(),
    );
  }
  return uws;
}

export type { Uws };

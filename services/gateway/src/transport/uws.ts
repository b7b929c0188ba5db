import { createRequire } from "node:module";
import type * as Uws from "uWebSockets.js";

const require = createRequire(import.meta.url);

export class NativeUwsUnavailableError extends Error {
  override readonly name = "NativeUwsUnavailableError";
}

/**
 * uWebSockets.js answers 431 to a request whose request line and headers exceed this many bytes (its
 * own default since v20.4x is 4 KiB). Browser SignalR clients put the access token in the WebSocket
 * request's query string, so a large JWT plus cookies must fit. uWS reads the limit from its
 * environment when it loads; an operator's own UWS_HTTP_MAX_HEADERS_SIZE wins. The Node 20 development
 * build (v20.30) ignores it: a head spanning several reads must fit in 4 KiB there (docs/runtime.md).
 */
export const defaultMaxHeadersBytes = 16 * 1024;

/**
 * Loads uWebSockets.js and guarantees the native addon is the one in use. Some builds silently fall
 * back to a pure-JS shim when no binary matches the Node ABI, others throw; the shim is an order of
 * magnitude slower and lacks C++ topic fan-out, so the gateway refuses to run on it either way.
 */
export function loadNativeUws(): typeof Uws {
  if (process.env["UWS_USE_FALLBACK"] !== undefined && process.env["UWS_USE_FALLBACK"] !== "") {
    throw new NativeUwsUnavailableError("UWS_USE_FALLBACK is set: unset it, the gateway runs only on the native uWebSockets.js build");
  }
  if (process.env["UWS_HTTP_MAX_HEADERS_SIZE"] === undefined) process.env["UWS_HTTP_MAX_HEADERS_SIZE"] = String(defaultMaxHeadersBytes);
  const originalWarn = console.warn;
  const warnings: string[] = [];
  console.warn = (...args: unknown[]) => void warnings.push(args.map(String).join(" "));
  const notLoaded = (detail: string) =>
    new NativeUwsUnavailableError(
      `uWebSockets.js native binary did not load for ${process.platform}-${process.arch} (Node ABI ${process.versions.modules}); ` +
        `the gateway will not run on the slow JS fallback. ${detail}`.trim(),
    );
  let uws: typeof Uws;
  try {
    uws = require("uWebSockets.js") as typeof Uws;
  } catch (err) {
    throw notLoaded(err instanceof Error ? err.message : String(err));
  } finally {
    console.warn = originalWarn;
  }
  const nativeLoaded = Object.keys(require.cache).some((path) => path.endsWith(".node") && path.includes("uws_"));
  if (!nativeLoaded) throw notLoaded(warnings.join(" ").trim());
  return uws;
}

export type { Uws };

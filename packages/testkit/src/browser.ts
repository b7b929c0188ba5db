import { existsSync, readFileSync } from "node:fs";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { chromium, type Browser } from "playwright-core";
import { freePort } from "./net.js";

const require = createRequire(import.meta.url);

/** Debian's Chromium (`apt-get install chromium`); never a downloaded browser. */
export const CHROMIUM_PATH = process.env["TIDINGS_TEST_CHROMIUM"] ?? "/usr/bin/chromium";

/**
 * Headless Chromium driven by playwright-core, with the flags that keep it off the (closed) network.
 * Throws naming the missing binary when Chromium is not installed.
 */
export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH))
    throw new Error(`Chromium not found at ${CHROMIUM_PATH}: apt-get install chromium (or set TIDINGS_TEST_CHROMIUM)`);
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

function bundle(pkg: string, file: string): string {
  return readFileSync(join(dirname(require.resolve(`${pkg}/package.json`)), "dist", "browser", file), "utf8");
}

/**
 * A page on its own origin that loads the stock browser bundles of `@microsoft/signalr` and
 * `@microsoft/signalr-protocol-msgpack` (globals `signalR`, `signalR.protocols.msgpack`), as an app would.
 */
export async function startSignalrPage(): Promise<{ origin: string; close(): Promise<void> }> {
  const files: Record<string, string> = {
    "/signalr.js": bundle("@microsoft/signalr", "signalr.js"),
    "/signalr-protocol-msgpack.js": bundle("@microsoft/signalr-protocol-msgpack", "signalr-protocol-msgpack.js"),
    "/": '<!doctype html><html><head><script src="/signalr.js"></script><script src="/signalr-protocol-msgpack.js"></script></head><body>tidings test page</body></html>',
  };
  const port = await freePort();
  const server = createServer((req, res) => {
    const body = files[req.url ?? "/"];
    if (body === undefined) return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": req.url === "/" ? "text/html" : "text/javascript" }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(port, "127.0.0.1", resolve));
  return { origin: `http://127.0.0.1:${port}`, close: () => new Promise((r) => server.close(() => r())) };
}

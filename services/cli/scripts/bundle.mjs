// Bundles src/main.ts and every dependency into dist/tidings.js, one ES module that needs only Node
// (>= 20.10): what `npm pack` ships and what the image runs. esbuild is resolved through tsx, which
// brings it, so the workspace needs no direct dependency on it.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve("tsx/package.json"))("esbuild");
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
// @microsoft/signalr loads its Node-only modules with a require() esbuild cannot see through
// (`requireFunc("ws")`); spelled out as plain require() calls they are bundled like any other.
const signalrNodeModules = {
  name: "signalr-node-modules",
  setup(build) {
    build.onLoad({ filter: /[\\/]@microsoft[\\/]signalr[\\/]dist[\\/]cjs[\\/].*\.js$/ }, async (args) => {
      const { readFile } = await import("node:fs/promises");
      const source = await readFile(args.path, "utf8");
      return { contents: source.replace(/requireFunc\("(ws|eventsource|tough-cookie|fetch-cookie)"\)/g, 'require("$1")'), loader: "js" };
    });
  },
};
await esbuild.build({
  plugins: [signalrNodeModules],
  entryPoints: [here("../src/main.ts")],
  outfile: here("../dist/tidings.js"),
  bundle: true,
  platform: "node",
  target: "node20",
  format: "esm",
  legalComments: "none",
  logLevel: "warning",
  // Bundled CommonJS modules call require(); give the ES module bundle one.
  banner: {
    js: "import { createRequire as __tidingsCreateRequire } from 'node:module'; const require = __tidingsCreateRequire(import.meta.url);",
  },
});

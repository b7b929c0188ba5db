// Loaded with --import by scripts/node24.sh: on a Node that has synchronous module hooks (22.15+/24),
// `uWebSockets.js` resolves, for require() and import alike, to the verified Node 24 build unpacked under
// $UWS_NODE24_ROOT instead of the workspace's Node 20 build. Code keeps its one import name.
import { registerHooks } from "node:module";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";

const root = process.env.UWS_NODE24_ROOT;
if (root === undefined) throw new Error("node24-uws-hook: UWS_NODE24_ROOT is not set (run through scripts/node24.sh)");
const { package: name } = JSON.parse(readFileSync(new URL("../uws-provenance.json", import.meta.url), "utf8"));
const dir = join(root, "node_modules", name);
const { exports } = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
const entry = (file, format) => ({ url: pathToFileURL(join(dir, file)).href, format, shortCircuit: true });
const forRequire = entry(exports.require, "commonjs");
const forImport = entry(exports.import, "module");

registerHooks({
  resolve(specifier, context, nextResolve) {
    if (specifier !== "uWebSockets.js") return nextResolve(specifier, context);
    return context.conditions.includes("require") ? forRequire : forImport;
  },
});

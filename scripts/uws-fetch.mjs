// Fetches the uWebSockets.js package pinned in uws-provenance.json with `npm pack` and unpacks it to
// <root>/node_modules/<package>, refusing it unless the tarball matches the recorded integrity and
// every Linux binary in it matches its recorded SHA-256 (an unrecorded or missing one fails too).
// Prints the package directory. Idempotent: a verified copy is kept and re-checked.
//   node scripts/uws-fetch.mjs <root>
//   node scripts/uws-fetch.mjs --verify <package dir>    # only check an unpacked package; exit 1 on a mismatch
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const provenance = JSON.parse(readFileSync(join(dirname(fileURLToPath(import.meta.url)), "..", "uws-provenance.json"), "utf8"));
const digest = (algorithm, file, encoding) => createHash(algorithm).update(readFileSync(file)).digest(encoding);

/** Problems with the unpacked package in `dir`; empty when every Linux binary is the recorded one. */
function verify(dir) {
  const shipped = readdirSync(dir).filter((f) => /^uws_linux_.*[.]node$/.test(f));
  const problems = shipped.filter((f) => provenance.binaries[f] === undefined).map((f) => `${f}: not recorded`);
  for (const [file, sha256] of Object.entries(provenance.binaries)) {
    if (!shipped.includes(file)) problems.push(`${file}: missing`);
    else if (digest("sha256", join(dir, file), "hex") !== sha256) problems.push(`${file}: SHA-256 differs from the recorded one`);
  }
  return problems;
}

if (process.argv[2] === "--verify") {
  const problems = verify(process.argv[3]);
  for (const p of problems) console.error(p);
  process.exit(problems.length === 0 ? 0 : 1);
}
const root = process.argv[2];
if (root === undefined) throw new Error("usage: node scripts/uws-fetch.mjs <root>");
const target = join(root, "node_modules", provenance.package);

if (!existsSync(target) || verify(target).length > 0) {
  const work = mkdtempSync(join(tmpdir(), "uws-fetch-"));
  try {
    const spec = `${provenance.package}@${provenance.version}`;
    const [{ filename }] = JSON.parse(execFileSync("npm", ["pack", spec, "--json", "--pack-destination", work], { encoding: "utf8" }));
    const tarball = join(work, filename.replace(/^@/, "").replace("/", "-"));
    const integrity = `sha512-${digest("sha512", tarball, "base64")}`;
    if (integrity !== provenance.integrity)
      throw new Error(`${spec}: tarball integrity ${integrity} is not the recorded ${provenance.integrity}`);
    execFileSync("tar", ["xzf", tarball, "-C", work]);
    const problems = verify(join(work, "package"));
    if (problems.length > 0) throw new Error(`${spec}: ${problems.join("; ")}`);
    rmSync(target, { recursive: true, force: true });
    mkdirSync(dirname(target), { recursive: true });
    renameSync(join(work, "package"), target);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
console.log(target);

# syntax=docker/dockerfile:1.7
#
# One image for every Tidings role: TIDINGS_ROLE=gateway|router|store, or `all` (standalone, the default).
#
#   docker build -t tidings .
#   docker run --rm -p 8080:8080 -e TIDINGS_AUTH_ANONYMOUS=true tidings
#
#   docker run --rm tidings tidings publish --help      # the producer CLI is on PATH
#
# Stage 1 installs the workspace from the lockfile and bundles services/standalone/src/main.ts (the
# server), with all workspace TypeScript and pure-JS dependencies, into an ES module with esbuild; the
# `tidings` CLI (services/cli) is bundled by its own script into one self-contained file. Packages that
# cannot be bundled stay external and are copied, with their dependencies, into a flat node_modules:
#   - uWebSockets.js: a native addon (uws_<platform>_<arch>_<abi>.node) loaded with require(). The image
#     does not use the workspace's build (binaries for Node <= 20 only): it installs the Node 24 build
#     pinned in uws-provenance.json under the same name, refusing a tarball or binary whose hash differs;
#   - @electric-sql/pglite(-socket): the embedded Postgres, which loads .wasm/.data files next to its JS.
# Non-JS files the code reads relative to its own source (the store's SQL migrations) are copied too.
# Stage 2 is Node.js 24 on Debian 13 (glibc 2.41; the uWebSockets.js binaries need >= 2.38) with the
# bundles and those packages only, running as uid 1000.
#
# The base image is pinned by digest (one multi-arch index for amd64 and arm64). To move it, see
# docs/runtime.md: `docker buildx imagetools inspect node:24-trixie-slim` prints the current digest.
#
# Needs BuildKit (the default builder since Docker 23) for the inline script files below.

ARG NODE_IMAGE=node:24-trixie-slim@sha256:8ec5d7557396cfe32d21c3f9c13072355ceab22b584578ca4bb28af31120cffe
ARG PNPM_VERSION=10.34.9

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
ARG PNPM_VERSION
ENV CI=true
RUN npm install -g pnpm@${PNPM_VERSION}
WORKDIR /src

# Download every package the lockfile names (cached until pnpm-lock.yaml changes), then install offline.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --frozen-lockfile --offline

# esbuild comes with tsx (a root devDependency). No workspace package depends on esbuild directly, so
# `pnpm exec esbuild` has no binary to run; resolving it through tsx keeps working across upgrades.
COPY <<'EOF' /build/bundle.mjs
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const esbuild = createRequire(require.resolve("tsx/package.json", { paths: [process.cwd()] }))("esbuild");
const [outdir, entries, ...external] = process.argv.slice(2);
await esbuild.build({
  entryPoints: entries.split(","),
  outdir,
  external,
  bundle: true,
  platform: "node",
  target: "node24",
  format: "esm",
  sourcemap: true,
  legalComments: "none",
  logLevel: "info",
  // Bundled CommonJS modules call require(); give the ES module bundle one.
  banner: { js: "import { createRequire as __tidingsCreateRequire } from 'node:module'; const require = __tidingsCreateRequire(import.meta.url);" },
});
EOF

# Copies external packages and their dependencies (dereferenced from pnpm's store layout) into a flat
# node_modules. A name already copied is not copied again, so two versions of one package keep the first.
COPY <<'EOF' /build/copy-externals.mjs
import { cpSync, existsSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import { join, sep } from "node:path";
const [out, ...roots] = process.argv.slice(2);
const workspaces = ["services", "packages"].flatMap((d) => readdirSync(d).map((p) => join(process.cwd(), d, p)));
const find = (name, from) => {
  for (let dir = from; ; dir = join(dir, "..")) {
    const candidate = join(dir, "node_modules", name);
    if (existsSync(join(candidate, "package.json"))) return realpathSync(candidate);
    if (dir === sep) return undefined;
  }
};
const copied = new Set();
const copy = (name, dir) => {
  if (copied.has(name)) return;
  copied.add(name);
  const nested = join(dir, "node_modules");
  cpSync(dir, join(out, name), { recursive: true, dereference: true, filter: (src) => src !== nested && !src.startsWith(nested + sep) });
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  for (const dep of Object.keys({ ...pkg.dependencies, ...pkg.optionalDependencies })) {
    const depDir = find(dep, dir);
    if (depDir !== undefined) copy(dep, depDir); // an optional dependency may be absent
  }
};
for (const name of roots) {
  const dir = workspaces.map((w) => find(name, w)).find((d) => d !== undefined);
  if (dir === undefined) throw new Error(`external ${name} is not installed in any workspace package`);
  copy(name, dir);
}
console.log(`external packages: ${[...copied].join(", ")}`);
EOF

# The store reads its SQL migrations from `new URL("../migrations/", import.meta.url)`; in the bundle
# import.meta.url is services/standalone/dist/main.js, so they go to services/standalone/migrations.
ARG EXTERNALS="uWebSockets.js @electric-sql/pglite @electric-sql/pglite-socket"
ARG COPIED_EXTERNALS="@electric-sql/pglite @electric-sql/pglite-socket"
RUN node /build/bundle.mjs /out/services/standalone/dist services/standalone/src/main.ts ${EXTERNALS} \
 && node /build/copy-externals.mjs /out/node_modules ${COPIED_EXTERNALS} \
 && cp -r services/store/migrations /out/services/standalone/migrations \
 && ls /out/services/standalone/migrations/*.sql >/dev/null \
 && printf '{"type":"module","private":true}\n' > /out/package.json

# The `tidings` CLI: one file with every dependency, and its package.json (read for --version).
RUN node services/cli/scripts/bundle.mjs \
 && mkdir -p /out/services/cli/dist \
 && cp services/cli/dist/tidings.js /out/services/cli/dist/tidings.js \
 && cp services/cli/package.json /out/services/cli/package.json

# uWebSockets.js for Node 24: fetched by `npm pack` and checked against uws-provenance.json (tarball
# sha512 and the SHA-256 of every Linux binary) by scripts/uws-fetch.mjs, installed as `uWebSockets.js`.
# Only the binary for this platform and Node ABI stays; the build fails unless that native addon, not
# the slow JS fallback, loads from /out.
RUN uws_dir="$(node scripts/uws-fetch.mjs /build/uws)" \
 && cp -r "${uws_dir}" /out/node_modules/uWebSockets.js \
 && uws_binary="uws_linux_$(node -p process.arch)_$(node -p process.versions.modules).node" \
 && test -f "/out/node_modules/uWebSockets.js/${uws_binary}" \
 && find /out/node_modules/uWebSockets.js -name '*.node' ! -name "${uws_binary}" -delete
WORKDIR /out
RUN node --input-type=commonjs -e "require('uWebSockets.js'); if (!Object.keys(require.cache).some((p) => /uws_.*[.]node$/.test(p))) { console.error('uWebSockets.js native addon did not load'); process.exit(1); }"

# The producer CLI as a command on PATH.
RUN mkdir -p /build/bin \
 && printf '#!/bin/sh\nexec node /app/services/cli/dist/tidings.js "$@"\n' > /build/bin/tidings

# ---------------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ARG NODE_IMAGE
ARG VERSION=0.0.0-dev
ARG REVISION=unknown
ARG CREATED=1970-01-01T00:00:00Z
ARG SOURCE=https://github.com/tidings/tidings
LABEL org.opencontainers.image.title="Tidings" \
      org.opencontainers.image.description="SignalR-compatible notification gateway: hub, router and store in one image (TIDINGS_ROLE)" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.url="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="${NODE_IMAGE}"
# TIDINGS_DATA_DIR: where the embedded Postgres (standalone without TIDINGS_DATABASE_URL) writes; mount a
# volume there to keep its data. TIDINGS_BUILD_*: the labels of tidings_build_info.
ENV NODE_ENV=production \
    NODE_OPTIONS=--enable-source-maps \
    TIDINGS_DATA_DIR=/data \
    TIDINGS_BUILD_VERSION=${VERSION} \
    TIDINGS_BUILD_REVISION=${REVISION}
WORKDIR /app
COPY --from=build --chmod=0755 /build/bin/tidings /usr/local/bin/tidings
COPY --from=build /out/ /app/
# uid 1000 is the image's `node` user; numeric, so Kubernetes can verify runAsNonRoot.
RUN mkdir -p /data && chown 1000:1000 /data
USER 1000:1000
EXPOSE 8080 9464
# --single-threaded-gc: V8 collects on the event loop's thread only, without waking helper threads. With few
# cores shared by busy processes (Tidings' roles, NATS), the helpers compete with the other processes' event
# loops: on 2 cores the end-to-end p99 at 5,000 notifications/s was 8.2 ms with it against 11.1 ms without
# (median of 10 and 9 interleaved runs, bench/results/changes.md §26). Not allowed in NODE_OPTIONS, hence here.
CMD ["node", "--single-threaded-gc", "services/standalone/dist/main.js"]

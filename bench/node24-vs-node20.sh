#!/usr/bin/env bash
# Node.js 24 against Node.js 20 in one run: the same harnesses, Node 20 first, then Node 24 through
# scripts/node24.sh (Node 24 on a private Debian 13 glibc, with the image's uWebSockets.js build).
# Writes results/node24-vs-node20.{json,md}; the per-harness result files of the two runs stay out of
# results/ (they would replace the full-size ones).
#   bench/node24-vs-node20.sh [pnpm bench options]     # default: --quick --only fanout-cpu,connect-rate
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
args=("$@")
[ "${#args[@]}" -gt 0 ] || args=(--quick --only fanout-cpu,connect-rate)
work="$(mktemp -d)"
cp -r "$here/results" "$work/saved"
restore() { rm -rf "$here/results" && cp -r "$work/saved" "$here/results"; }
# The comparison is written into the work directory and copied last, so restoring results/ keeps it.
keep_compare() { for ext in json md; do [ ! -f "$work/compare.$ext" ] || cp "$work/compare.$ext" "$here/results/node24-vs-node20.$ext"; done; }
trap 'restore; keep_compare; rm -rf "$work"' EXIT

cd "$here"
for runtime in node20 node24; do
  restore
  if [ "$runtime" = node20 ]; then npx tsx src/run.ts "${args[@]}"; else "$here/../scripts/node24.sh" npx tsx src/run.ts "${args[@]}"; fi
  mkdir -p "$work/$runtime"
  for f in "$here"/results/*.json; do cmp -s "$f" "$work/saved/$(basename "$f")" || cp "$f" "$work/$runtime/"; done
done
restore
npx tsx src/node-compare.ts "$work/node20" "$work/node24" "$work/compare" "pnpm bench ${args[*]}"

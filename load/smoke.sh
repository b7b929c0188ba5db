#!/usr/bin/env bash
# `pnpm load:smoke`: run every Locust suite for ~20 s against `pnpm start` (or $TIDINGS_URL).
# Installs the pinned Python dependencies of load/ first when they are missing (see load/smoke.py).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
  echo "[load:smoke] $PYTHON not found: the load suites need Python ≥ 3.10 with pip" >&2
  exit 1
fi
exec "$PYTHON" load/smoke.py "$@"

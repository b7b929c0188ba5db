#!/usr/bin/env python3
"""`pnpm load:smoke`: every load suite headless for ~20 s with tiny numbers, against `pnpm start`
on a free loopback port (or against TIDINGS_URL when set). Fails on any request failure, unhandled
exception or missed threshold; checks the server cannot do yet are reported as SKIP.

Standard library only, so it can install the pinned load dependencies itself (see ensure_deps).

Environment:
  TIDINGS_URL               test this server instead of starting one (e.g. http://127.0.0.1:8080);
                            then pass its JWT secret as TIDINGS_LOAD_JWT_SECRET (empty: anonymous)
  TIDINGS_LOAD_SMOKE_SECONDS  run time per suite (default 20)
  TIDINGS_LOAD_SMOKE_SUITES   comma list (default fanout,connect_storm,reconnect_storm,inbox_soak)
  TIDINGS_LOAD_REPORT_DIR     where CSV/HTML/verdict files go (default load/reports/smoke)
  TIDINGS_LOAD_REQUIRE        capabilities that must not be skipped (replay,inbox)
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

LOAD_DIR = Path(__file__).resolve().parent
REPO = LOAD_DIR.parent
SUITES = ["fanout", "connect_storm", "reconnect_storm", "inbox_soak"]

# Tiny numbers: the smoke proves the suites and the server work together, not capacity. Thresholds
# are loose on latency (a shared 2-core CI box) and strict on correctness (no loss, no failure).
SUITE_ARGS: dict[str, list[str]] = {
    "fanout": ["-u", "9", "-r", "9", "--publishers", "1", "--publish-rate", "20", "--groups", "2", "--user-pool", "4", "--max-p99-ms", "1000", "--min-receipts", "100"],
    "connect_storm": ["-u", "20", "-r", "10", "--hold-seconds", "5", "--storm-groups", "4", "--max-connect-p95-ms", "2000"],
    "reconnect_storm": ["-u", "10", "-r", "10", "--drop-share", "0.5", "--storm-interval", "7", "--backoff-initial", "1", "--backoff-max", "4", "--max-recovery-ms", "15000"],
    "inbox_soak": ["-u", "3", "-r", "3", "--devices", "3", "--think-min", "0.3", "--think-max", "0.8", "--inbox-size", "20", "--max-delivery-p99-ms", "1000", "--max-event-p99-ms", "1000"],
}


def log(message: str) -> None:
    print(f"[load:smoke] {message}", flush=True)


# --------------------------------------------------------------------------- dependencies

def pinned_requirements() -> list[tuple[str, str]]:
    text = (LOAD_DIR / "pyproject.toml").read_text(encoding="utf-8")
    block = re.search(r"^dependencies\s*=\s*\[(.*?)\]", text, re.S | re.M)
    return re.findall(r'"([A-Za-z0-9_.-]+)==([^"]+)"', block.group(1) if block else "")


def ensure_deps() -> None:
    """Installs load/ (pinned, with constraints.txt) when a pinned package is missing or differs."""
    from importlib import metadata

    wrong = []
    for name, version in pinned_requirements():
        try:
            have = metadata.version(name)
        except metadata.PackageNotFoundError:
            have = None
        if have != version:
            wrong.append(f"{name} {have or 'missing'} (want {version})")
    for name in ("tidings-load", "pytest"):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{name} not installed")
    if not wrong:
        return
    log("installing the load dependencies: " + ", ".join(wrong))
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "-c", str(LOAD_DIR / "constraints.txt"), "-e", f"{LOAD_DIR}[test]"]
    subprocess.run(cmd, check=True)


# --------------------------------------------------------------------------- server

def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hub_answers(url: str) -> bool:
    """The hub is up when negotiate answers at all (401 without a token is an answer)."""
    request = urllib.request.Request(f"{url}/notifications/negotiate?negotiateVersion=1", method="POST", data=b"")
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return response.status in (200, 401)
    except urllib.error.HTTPError as exc:
        return exc.code in (200, 401)
    except OSError:
        return False


class Server:
    def __init__(self, report_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.secret = secrets.token_urlsafe(36)
        self.data_dir = Path(tempfile.mkdtemp(prefix="tidings-load-smoke-"))
        self.log_path = report_dir / "server.log"
        self.process: subprocess.Popen | None = None

    def launch(self) -> None:
        """Starts `pnpm start` without waiting for it (see wait_ready)."""
        # The gateway refuses unknown TIDINGS_* settings: keep the load-generator's own out of its environment.
        env = {k: v for k, v in os.environ.items() if not (k.startswith("TIDINGS_LOAD_") or k == "TIDINGS_URL")}
        env.update(
            {
                "TIDINGS_PORT": str(self.port),
                "TIDINGS_HOST": "127.0.0.1",
                "TIDINGS_AUTH_JWT_SECRET": self.secret,
                "TIDINGS_METRICS_PORT": "0",
                "TIDINGS_DATA_DIR": str(self.data_dir),
                "TIDINGS_DRAIN_SECONDS": "0",
                "TIDINGS_LOG_LEVEL": env.get("TIDINGS_LOG_LEVEL", "warn"),
            }
        )
        pnpm = shutil.which("pnpm")
        if pnpm is None:
            raise SystemExit("[load:smoke] pnpm is not on PATH (needed for `pnpm start`); or set TIDINGS_URL")
        log(f"starting `pnpm start` on {self.url} (log: {self.log_path})")
        self._log = open(self.log_path, "wb")
        self.process = subprocess.Popen([pnpm, "start"], cwd=REPO, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True)
        self._launched = time.monotonic()

    def wait_ready(self, timeout: float = 180.0) -> None:
        """Waits until the hub answers, at most `timeout` s after the launch."""
        assert self.process is not None
        deadline = self._launched + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                self._tail()
                raise SystemExit(f"[load:smoke] the server exited with code {self.process.returncode} before answering")
            if hub_answers(self.url):
                log(f"server is up after {time.monotonic() - self._launched:.1f} s")
                return
            time.sleep(0.3)
        self._tail()
        self.stop()
        raise SystemExit(f"[load:smoke] the server did not answer on {self.url} within {timeout:.0f} s")

    def _tail(self) -> None:
        try:
            lines = self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
        except OSError:
            return
        for line in lines:
            print(f"  server| {line}", flush=True)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)  # our own session: pnpm, tsx and node
            except ProcessLookupError:
                pass
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                log("server did not stop within 20 s of SIGTERM; killing it")
                try:
                    os.killpg(self.process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.process.wait(timeout=10)
        else:
            # pnpm may be gone while a child lives on in the session
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
        self._log.close()
        shutil.rmtree(self.data_dir, ignore_errors=True)
        log("server stopped")


# --------------------------------------------------------------------------- suites

def run_suite(suite: str, url: str, secret: str, seconds: int, report_dir: Path) -> tuple[int, dict | None, str]:
    verdict_path = report_dir / f"{suite}.verdict.json"
    verdict_path.unlink(missing_ok=True)
    cmd = [
        sys.executable, "-m", "locust",
        "-f", str(LOAD_DIR / "locustfiles" / f"{suite}.py"),
        "--headless", "--host", url, "-t", f"{seconds}s",
        "--only-summary", "--loglevel", "WARNING",
        "--csv", str(report_dir / suite), "--html", str(report_dir / f"{suite}.html"),
        *SUITE_ARGS[suite],
    ]
    env = dict(os.environ)
    env["TIDINGS_LOAD_VERDICT_FILE"] = str(verdict_path)
    if secret:
        env["TIDINGS_LOAD_JWT_SECRET"] = secret
    log(f"suite {suite}: {seconds} s, {' '.join(SUITE_ARGS[suite])}")
    output_path = report_dir / f"{suite}.log"
    with open(output_path, "wb") as out:
        process = subprocess.run(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=seconds + 120)
    output = output_path.read_text(encoding="utf-8", errors="replace")
    verdict = None
    if verdict_path.exists():
        verdict = json.loads(verdict_path.read_text(encoding="utf-8"))
    return process.returncode, verdict, output


def show(suite: str, rc: int, verdict: dict | None, output: str) -> bool:
    ok = rc == 0 and verdict is not None and verdict.get("result") == "PASS"
    block = re.search(r"=== tidings load verdict:.*?^RESULT [^\n]*", output, re.S | re.M)
    if block:
        print(block.group(0), flush=True)
    if not ok:
        # on failure show Locust's own tables and errors too
        tail = output.splitlines()
        print("\n".join(tail[-60:]), flush=True)
        if verdict is None:
            log(f"suite {suite} wrote no verdict (exit code {rc})")
    return ok


def summary_lines(verdicts: dict[str, dict | None]) -> list[str]:
    lines = []
    fan = verdicts.get("fanout") or {}
    metrics = fan.get("metrics", {})
    lat = metrics.get("latency_ms")
    loss = metrics.get("loss")
    if lat:
        lines.append(
            f"fanout latency producer→client: n={int(lat['count'])} p50={lat['p50']:.2f} ms p90={lat['p90']:.2f} ms "
            f"p99={lat['p99']:.2f} ms p99.9={lat['p999']:.2f} ms max={lat['max']:.2f} ms"
        )
    if loss:
        lines.append(f"fanout loss: {loss['lost']} lost of {loss['expected']} expected deliveries, {loss['duplicates']} duplicates, {loss['misrouted']} misrouted")
    for suite, verdict in verdicts.items():
        if not verdict:
            continue
        for check in verdict.get("checks", []):
            if check["status"] == "SKIP":
                lines.append(f"skipped in {suite}: {check['name']} — {check['detail']}")
    return lines


def main() -> int:
    ensure_deps()
    seconds = int(os.environ.get("TIDINGS_LOAD_SMOKE_SECONDS", "20"))
    suites = [s.strip() for s in os.environ.get("TIDINGS_LOAD_SMOKE_SUITES", ",".join(SUITES)).split(",") if s.strip()]
    unknown = [s for s in suites if s not in SUITES]
    if unknown:
        raise SystemExit(f"[load:smoke] unknown suites: {unknown} (known: {SUITES})")
    report_dir = Path(os.environ.get("TIDINGS_LOAD_REPORT_DIR", LOAD_DIR / "reports" / "smoke")).resolve()
    report_dir.mkdir(parents=True, exist_ok=True)

    server: Server | None = None
    url = os.environ.get("TIDINGS_URL", "").rstrip("/")
    secret = os.environ.get("TIDINGS_LOAD_JWT_SECRET", "")
    if not url:
        server = Server(report_dir)
        url, secret = server.url, server.secret
    else:
        log(f"using TIDINGS_URL={url}" + ("" if secret else " (no TIDINGS_LOAD_JWT_SECRET: anonymous connections)"))
        if not hub_answers(url):
            raise SystemExit(f"[load:smoke] nothing answers on {url}/notifications/negotiate")

    results: dict[str, bool] = {}
    verdicts: dict[str, dict | None] = {}
    started = time.monotonic()
    try:
        # The server boots while the helpers' unit tests run: neither needs the other.
        if server is not None:
            server.launch()
        if os.environ.get("TIDINGS_LOAD_SMOKE_SKIP_UNIT", "") not in ("1", "true"):
            log("unit tests of the load helpers (load/tests)")
            unit = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", str(LOAD_DIR / "tests")], cwd=LOAD_DIR)
            if unit.returncode != 0:
                log("load helper unit tests failed")
                print("smoke: 0 passed, 1 failed", flush=True)
                return 1
        if server is not None:
            server.wait_ready()
        for suite in suites:
            rc, verdict, output = run_suite(suite, url, secret, seconds, report_dir)
            verdicts[suite] = verdict
            results[suite] = show(suite, rc, verdict, output)
            if server is not None and not server.alive():
                log("the server died during the suite")
                results[suite] = False
                break
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        if server is not None:
            server.stop()

    print("", flush=True)
    print("=== load:smoke summary ===", flush=True)
    for suite in suites:
        state = "PASS" if results.get(suite) else ("FAIL" if suite in results else "NOT RUN")
        print(f"{state:7} {suite}", flush=True)
    for line in summary_lines(verdicts):
        print(line, flush=True)
    print(f"reports (CSV, HTML, logs): {report_dir}", flush=True)
    passed = sum(1 for s in suites if results.get(s))
    failed = len(suites) - passed
    print(f"took {time.monotonic() - started:.0f} s", flush=True)
    print(f"smoke: {passed} passed, {failed} failed", flush=True)
    return 0 if failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

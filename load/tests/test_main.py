"""`python -m tidings_load -f <suite> --help` lists the suite's options, which `locust --help` cannot."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

LOAD_DIR = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    env = {"PYTHONPATH": str(LOAD_DIR), "PATH": ""}
    return subprocess.run([sys.executable, "-m", "tidings_load", *args], cwd=LOAD_DIR, env=env, capture_output=True, text=True, timeout=120)


def test_help_lists_every_suite_option_with_its_variable() -> None:
    for suite, option, variable in [
        ("fanout", "--publish-rate", "TIDINGS_LOAD_PUBLISH_RATE"),
        ("connect_storm", "--jwt-secret", "TIDINGS_LOAD_JWT_SECRET"),
        ("inbox_soak", "--verdict-file", "TIDINGS_LOAD_VERDICT_FILE"),
    ]:
        result = run("-f", f"locustfiles/{suite}.py", "--help")
        assert result.returncode == 0, result.stderr
        assert option in result.stdout
        assert variable in result.stdout.replace("\n", " ").replace(" ", "")


def test_help_without_a_locustfile_is_a_usage_error() -> None:
    result = run("--help")
    assert result.returncode == 2
    assert "usage: python -m tidings_load -f <locustfile> --help" in result.stderr

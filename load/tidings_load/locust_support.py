"""Locust glue shared by the suites: options, request events, producer, capability probes,
worker→master telemetry shipping and the threshold verdict checked when the test stops.

A locustfile does::

    from tidings_load.locust_support import Suite
    suite = Suite("fanout")                     # registers its event listeners

    @suite.options
    def _(parser): parser.add_argument("--publish-rate", ...)

    @suite.checks
    def _(env, telemetry, verdict): verdict.check("loss", lost == 0, "...")

Verdicts are evaluated on ``test_stop`` in a local run and on ``quitting`` on a master (after the
workers' final reports arrived); a failed check sets ``environment.process_exit_code = 1``.
"""

from __future__ import annotations

import locust  # noqa: F401  (gevent monkey-patching must precede the other imports)

import itertools
import json
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import gevent
import requests
from gevent.event import Event
from locust import events
from locust.env import Environment
from locust.runners import LocalRunner, MasterRunner, WorkerRunner

from .client import HubClient, HubError, HubInvocationError, body_of, notification_args
from .stats import Telemetry, format_summary
from .tokens import TokenMinter

# One id per load-generator process: notification ids and user ids never collide between runs or workers.
RUN_ID = f"{socket.gethostname()[:16]}-{os.getpid()}-{uuid.uuid4().hex[:6]}"

TELEMETRY = Telemetry()

AUDIENCE_GLOBAL, AUDIENCE_TENANT, AUDIENCE_GROUP, AUDIENCE_USER, AUDIENCE_CONNECTION = 1, 2, 3, 4, 5


def now_ms() -> float:
    return time.time() * 1000.0


def audience_key(audience_type: int, value: str | None = None, tenant: str | None = None) -> str:
    """The audience key of docs/contract.md §3 (what ``audienceId`` carries)."""
    if audience_type == AUDIENCE_GLOBAL:
        return "global"
    if audience_type == AUDIENCE_TENANT:
        return f"tenant:{value}"
    if audience_type == AUDIENCE_GROUP:
        return f"group:{tenant}:{value}" if tenant else f"group:{value}"
    if audience_type == AUDIENCE_USER:
        return f"user:{value}"
    return str(value)


def envelope(nid: str, ntype: str, audience_type: int, audience_value: str | None, body: Any, *, persisted: bool = False, producer: str = "tidings-load", tenant: str | None = None) -> dict[str, Any]:
    routing: dict[str, Any] = {"audienceType": audience_type}
    if audience_value is not None and audience_type != AUDIENCE_GLOBAL:
        routing["audienceValue"] = audience_value
    if tenant is not None:
        routing["tenantId"] = tenant
    metadata: dict[str, Any] = {"producer": producer}
    if persisted:
        metadata["isPersisted"] = True
    return {"id": nid, "type": ntype, "body": body, "routing": routing, "metadata": metadata}


def worker_index(environment: Environment) -> int:
    runner = environment.runner
    return getattr(runner, "worker_index", 0) if isinstance(runner, WorkerRunner) else 0


# --------------------------------------------------------------------------- request events

def fire(environment: Environment, request_type: str, name: str, response_time_ms: float, length: int = 0, exception: BaseException | None = None) -> None:
    environment.events.request.fire(
        request_type=request_type,
        name=name,
        response_time=max(0.0, response_time_ms),
        response_length=length,
        exception=exception,
        context={},
    )


class CheckFailed(Exception):
    """A failure reported as a Locust request failure (shown in the failures table)."""


def report_receipt(environment: Environment, name: str, sent_at_ms: float, received_at_s: float, size: int) -> float:
    """Reports one notification receipt: a request event whose response time is producer→client latency."""
    latency = received_at_s * 1000.0 - sent_at_ms
    TELEMETRY.observe(name, latency)
    fire(environment, "RECV", name, latency, size)
    return latency


# --------------------------------------------------------------------------- options

def add_common_arguments(parser) -> None:
    # Every option can also be given as a TIDINGS_LOAD_* environment variable (shown in --help).
    group = parser
    group.add_argument("--gateway-urls", default="", env_var="TIDINGS_LOAD_GATEWAY_URLS", help="comma list of gateway base URLs that hub connections are spread over (round robin); default: --host. Producers always use --host")
    group.add_argument("--hub-path", default="/notifications", env_var="TIDINGS_LOAD_HUB_PATH", help="SignalR hub path")
    group.add_argument("--hub-protocol", default="json", choices=["json", "messagepack"], env_var="TIDINGS_LOAD_HUB_PROTOCOL", help="hub protocol")
    group.add_argument("--skip-negotiation", action="store_true", default=False, env_var="TIDINGS_LOAD_SKIP_NEGOTIATION", help="open the WebSocket without negotiate")
    group.add_argument("--jwt-secret", default="", env_var="TIDINGS_LOAD_JWT_SECRET", help="HS256 secret (the gateway's TIDINGS_AUTH_JWT_SECRET) or a PEM private key; empty: anonymous", is_secret=True)
    group.add_argument("--jwt-algorithm", default="HS256", env_var="TIDINGS_LOAD_JWT_ALGORITHM", help="JWT algorithm (HS256, RS256, ES256 …)")
    group.add_argument("--jwt-issuer", default="", env_var="TIDINGS_LOAD_JWT_ISSUER", help="iss claim (TIDINGS_AUTH_ISSUER)")
    group.add_argument("--jwt-audience", default="", env_var="TIDINGS_LOAD_JWT_AUDIENCE", help="aud claim (TIDINGS_AUTH_AUDIENCE)")
    group.add_argument("--jwt-kid", default="", env_var="TIDINGS_LOAD_JWT_KID", help="kid header (JWKS)")
    group.add_argument("--ingest-key", default="", env_var="TIDINGS_LOAD_INGEST_KEY", help="producer key (TIDINGS_INGEST_KEYS); empty: loopback only", is_secret=True)
    group.add_argument("--connect-timeout", type=float, default=10.0, env_var="TIDINGS_LOAD_CONNECT_TIMEOUT", help="seconds for negotiate, upgrade, handshake and invocations")
    group.add_argument("--drain-seconds", type=float, default=2.0, env_var="TIDINGS_LOAD_DRAIN_SECONDS", help="at stop: publishers stop, receivers keep listening this long")
    group.add_argument("--loss-grace-ms", type=float, default=1000.0, env_var="TIDINGS_LOAD_LOSS_GRACE_MS", help="a notification acknowledged less than this before a receiver stopped is not counted as lost")
    group.add_argument("--clock-skew-ms", type=float, default=0.0, env_var="TIDINGS_LOAD_CLOCK_SKEW_MS", help="clock skew allowance between load machines for loss accounting")
    group.add_argument("--require", default="", env_var="TIDINGS_LOAD_REQUIRE", help="comma list of capabilities that must be present instead of skipped: replay,inbox")
    group.add_argument("--verdict-file", default="", env_var="TIDINGS_LOAD_VERDICT_FILE", help="write the threshold verdict as JSON here")
    group.add_argument("--max-fail-ratio", type=float, default=0.0, env_var="TIDINGS_LOAD_MAX_FAIL_RATIO", help="largest allowed share of failed requests")


def opt(environment: Environment, name: str, default: Any = None) -> Any:
    options = environment.parsed_options
    return getattr(options, name, default) if options is not None else default


def minter_for(environment: Environment) -> TokenMinter | None:
    cached = getattr(environment, "_tidings_minter", None)
    if cached is not None or getattr(environment, "_tidings_minter_done", False):
        return cached
    secret = opt(environment, "jwt_secret", "") or ""
    minter = None
    if secret:
        minter = TokenMinter(
            secret=secret,
            algorithm=opt(environment, "jwt_algorithm", "HS256"),
            issuer=opt(environment, "jwt_issuer") or None,
            audience=opt(environment, "jwt_audience") or None,
            key_id=opt(environment, "jwt_kid") or None,
        )
    environment._tidings_minter = minter  # type: ignore[attr-defined]
    environment._tidings_minter_done = True  # type: ignore[attr-defined]
    return minter


_gateway_turn = itertools.count()


def hub_client(environment: Environment, user_id: str | None, tenants: Iterable[str] = ()) -> HubClient:
    """A HubClient configured from the options; ``user_id`` None (or no secret) connects anonymously."""
    minter = minter_for(environment)
    token = minter.token_for(user_id, tenants) if (minter and user_id) else None
    urls = [u.strip() for u in (opt(environment, "gateway_urls", "") or "").split(",") if u.strip()] or [environment.host]
    return HubClient(
        urls[next(_gateway_turn) % len(urls)],
        hub_path=opt(environment, "hub_path", "/notifications"),
        token=token,
        protocol=opt(environment, "hub_protocol", "json"),
        skip_negotiation=bool(opt(environment, "skip_negotiation", False)),
        timeout=float(opt(environment, "connect_timeout", 10.0)),
    )


def connect_reported(environment: Environment, client: HubClient, name: str = "connect") -> bool:
    """Connects and reports the connect time (negotiate + upgrade + handshake) as a WS request event."""
    start = time.perf_counter()
    try:
        timings = client.connect()
    except HubError as exc:
        fire(environment, "WS", name, (time.perf_counter() - start) * 1000, 0, exc)
        return False
    fire(environment, "WS", name, timings.total_ms, 0)
    TELEMETRY.observe(name, timings.total_ms)
    return True


def invoke_reported(environment: Environment, client: HubClient, target: str, *args: Any, name: str | None = None, expect_error: Callable[[HubInvocationError], bool] | None = None) -> tuple[bool, Any]:
    """Invokes a hub method and reports its round trip as a HUB request event."""
    start = time.perf_counter()
    try:
        result = client.invoke(target, *args)
    except HubInvocationError as exc:
        elapsed = (time.perf_counter() - start) * 1000
        if expect_error is not None and expect_error(exc):
            fire(environment, "HUB", name or target, elapsed)
            return False, exc
        fire(environment, "HUB", name or target, elapsed, 0, exc)
        return False, exc
    except Exception as exc:  # closed, timeout
        fire(environment, "HUB", name or target, (time.perf_counter() - start) * 1000, 0, exc)
        return False, exc
    fire(environment, "HUB", name or target, (time.perf_counter() - start) * 1000)
    return True, result


# --------------------------------------------------------------------------- producer

@dataclass
class PublishResult:
    ok: bool
    status: int
    send_ms: float
    ack_ms: float
    body: Any


class Producer:
    """POST /api/notifications with keep-alive; every call is a Locust request event."""

    def __init__(self, environment: Environment, name: str = "POST /api/notifications") -> None:
        self.environment = environment
        self.name = name
        self.url = environment.host.rstrip("/") + "/api/notifications"
        self.session = requests.Session()
        key = opt(environment, "ingest_key", "")
        self.headers = {"Content-Type": "application/json"}
        if key:
            self.headers["Authorization"] = f"Bearer {key}"
        self.timeout = float(opt(environment, "connect_timeout", 10.0))

    def publish(self, envelopes: dict | list) -> PublishResult:
        payload = json.dumps(envelopes, separators=(",", ":"))
        send_ms = now_ms()
        start = time.perf_counter()
        try:
            response = self.session.post(self.url, data=payload, headers=self.headers, timeout=self.timeout)
        except requests.RequestException as exc:
            fire(self.environment, "POST", self.name, (time.perf_counter() - start) * 1000, 0, exc)
            return PublishResult(False, 0, send_ms, now_ms(), None)
        elapsed = (time.perf_counter() - start) * 1000
        ack_ms = now_ms()
        if response.status_code != 202:
            fire(self.environment, "POST", self.name, elapsed, len(response.content), CheckFailed(f"HTTP {response.status_code}: {response.text[:200]}"))
            return PublishResult(False, response.status_code, send_ms, ack_ms, response.text)
        fire(self.environment, "POST", self.name, elapsed, len(response.content))
        try:
            body = response.json()
        except ValueError:
            body = None
        return PublishResult(True, 202, send_ms, ack_ms, body)

    def close(self) -> None:
        self.session.close()


# --------------------------------------------------------------------------- capability probes

INBOX = "inbox"
REPLAY = "replay"


def required(environment: Environment, capability: str) -> bool:
    wanted = {c.strip().lower() for c in (opt(environment, "require", "") or "").split(",") if c.strip()}
    return capability in wanted


def probe_inbox(environment: Environment, client: HubClient) -> tuple[bool, str]:
    """Does the server implement MarkAsRead? An answer other than `Method does not exist` means yes."""
    try:
        client.invoke("MarkAsRead", "user:tidings-load-probe", f"probe-{uuid.uuid4().hex[:8]}")
    except HubInvocationError as exc:
        if exc.method_missing:
            return False, "the server answers MarkAsRead with 'Method does not exist' (read state not built yet)"
        return True, f"MarkAsRead exists (probe answered: {exc.error[:120]})"
    except Exception as exc:
        return False, f"MarkAsRead probe failed: {exc}"
    return True, "MarkAsRead exists"


def probe_replay(environment: Environment, producer: Producer, user_id: str, wait_s: float = 3.0) -> tuple[bool, str]:
    """Publishes a persisted notification to a fresh user, then connects that user: replayed or not?"""
    nid = f"{RUN_ID}-replay-probe-{uuid.uuid4().hex[:6]}"
    result = producer.publish(envelope(nid, "tidings-load-probe", AUDIENCE_USER, user_id, {"probe": True}, persisted=True))
    if not result.ok:
        return False, f"could not publish the replay probe (HTTP {result.status})"
    client = hub_client(environment, user_id)
    got = Event()

    def on_probe(args: list, received_at: float, size: int) -> None:
        n = notification_args(args)
        if n and n.get("id") == nid:
            got.set()

    client.on("tidings-load-probe", on_probe)
    try:
        client.connect()
    except HubError as exc:
        return False, f"replay probe could not connect: {exc}"
    try:
        replayed = got.wait(wait_s)
    finally:
        client.close()
    if replayed:
        return True, "a persisted notification was replayed on connect"
    return False, f"a persisted notification published before connecting was not replayed within {wait_s:g} s (persistence/replay not built yet)"


# --------------------------------------------------------------------------- verdict

class Verdict:
    PASS, FAIL, SKIP = "PASS", "FAIL", "SKIP"

    def __init__(self, suite: str) -> None:
        self.suite = suite
        self.rows: list[tuple[str, str, str]] = []
        self.metrics: dict[str, Any] = {}

    def check(self, name: str, ok: bool, detail: str = "") -> bool:
        self.rows.append((self.PASS if ok else self.FAIL, name, detail))
        return ok

    def skip(self, name: str, reason: str) -> None:
        self.rows.append((self.SKIP, name, reason))

    def gated(self, environment: Environment, capability: str, name: str, ok_fn: Callable[[], tuple[bool, str]]) -> None:
        """A check that runs when the server has ``capability`` (or it is --require'd), else is skipped."""
        supported = TELEMETRY.notes.get(f"capability:{capability}")
        reason = TELEMETRY.notes.get(f"capability:{capability}:why", "capability was not probed")
        if supported == "yes" or required(environment, capability):
            ok, detail = ok_fn()
            if supported != "yes":
                detail = f"{detail} [required by --require, probe: {reason}]"
            self.check(name, ok, detail)
        else:
            _, detail = ok_fn()
            self.skip(name, f"{reason} (observed: {detail})")

    @property
    def failed(self) -> bool:
        return any(status == self.FAIL for status, _, _ in self.rows)

    def render(self) -> str:
        width = max((len(name) for _, name, _ in self.rows), default=10)
        lines = [f"=== tidings load verdict: {self.suite} ==="]
        for status, name, detail in self.rows:
            lines.append(f"{status}  {name.ljust(width)}  {detail}")
        counts = {s: sum(1 for r in self.rows if r[0] == s) for s in (self.PASS, self.FAIL, self.SKIP)}
        lines.append(f"RESULT {self.suite}: {'FAIL' if self.failed else 'PASS'} ({counts['PASS']} passed, {counts['FAIL']} failed, {counts['SKIP']} skipped)")
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "suite": self.suite,
            "result": "FAIL" if self.failed else "PASS",
            "checks": [{"status": s, "name": n, "detail": d} for s, n, d in self.rows],
            "metrics": self.metrics,
        }


def latency_check(verdict: Verdict, name: str, histogram_name: str, max_p99_ms: float, min_count: int = 1) -> None:
    h = TELEMETRY.histograms.get(histogram_name)
    summary = h.summary() if h else {"count": 0, "p50": 0, "p90": 0, "p95": 0, "p99": 0, "p999": 0, "max": 0, "min": 0, "mean": 0}
    verdict.metrics[histogram_name] = summary
    if summary["count"] < min_count:
        verdict.check(name, False, f"{histogram_name}: only {int(summary['count'])} samples (need ≥ {min_count})")
        return
    verdict.check(name, summary["p99"] <= max_p99_ms, f"p99 ≤ {max_p99_ms:g} ms — {format_summary(histogram_name, summary)}")


# --------------------------------------------------------------------------- suite

class Suite:
    """Per-locustfile wiring: options, telemetry shipping, stop drain, verdict at the end."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.stopping = False
        self._options: list[Callable] = []
        self._checks: list[Callable[[Environment, Telemetry, Verdict], None]] = []
        self._start_hooks: list[Callable[[Environment], None]] = []
        self._stopping_hooks: list[Callable[[Environment], None]] = []
        self._evaluated = False
        events.init_command_line_parser.add_listener(self._on_parser)
        events.init.add_listener(self._on_init)
        events.test_start.add_listener(self._on_test_start)
        events.test_stopping.add_listener(self._on_test_stopping)
        events.test_stop.add_listener(self._on_test_stop)
        events.quitting.add_listener(self._on_quitting)

    # decorators
    def options(self, fn: Callable) -> Callable:
        self._options.append(fn)
        return fn

    def checks(self, fn: Callable[[Environment, Telemetry, Verdict], None]) -> Callable:
        self._checks.append(fn)
        return fn

    def on_start(self, fn: Callable[[Environment], None]) -> Callable:
        """Runs at test start on every load-generating process (not on a master)."""
        self._start_hooks.append(fn)
        return fn

    def on_stopping(self, fn: Callable[[Environment], None]) -> Callable:
        """Runs when the test starts stopping, before the drain, on every load-generating process."""
        self._stopping_hooks.append(fn)
        return fn

    # listeners
    def _on_parser(self, parser) -> None:
        add_common_arguments(parser)
        for fn in self._options:
            fn(parser)

    def _on_init(self, environment: Environment, **_: Any) -> None:
        runner = environment.runner
        if isinstance(runner, WorkerRunner):
            environment.events.report_to_master.add_listener(lambda client_id, data: data.__setitem__("tidings", TELEMETRY.take_delta()))
            runner.register_message("tidings_stop", self._worker_flush, concurrent=True)
        elif isinstance(runner, MasterRunner):
            environment.events.worker_report.add_listener(lambda client_id, data: TELEMETRY.merge_delta(data["tidings"]) if "tidings" in data else None)
            self._finals: set[str] = set()
            runner.register_message("tidings_final", lambda environment, msg, **kw: self._finals.add(msg.node_id))

    @staticmethod
    def _worker_flush(environment: Environment, msg: Any, **_: Any) -> None:
        """Master asked us to stop now: drain, stop the users, then send the final stats and telemetry.

        Locust's own quit gives workers 0.5 s for a last report, less than the drain; this flush makes
        a distributed verdict as complete as a local one.
        """
        runner = environment.runner
        runner.stop()
        runner._send_stats()  # final Locust stats, carrying the final telemetry (report_to_master)
        runner.send_message("tidings_final", {"run": RUN_ID})

    def _master_flush(self, environment: Environment) -> None:
        runner = environment.runner
        workers = {c.id for c in runner.clients.all if c.state != "missing"}
        if not workers:
            return
        self._finals.clear()
        runner.send_message("tidings_stop")
        deadline = time.monotonic() + float(opt(environment, "drain_seconds", 2.0)) + 30.0
        while not workers <= self._finals and time.monotonic() < deadline:
            gevent.sleep(0.1)
        missing = workers - self._finals
        if missing:
            TELEMETRY.note("workers:unflushed", f"no final report from {sorted(missing)}")

    def _on_test_start(self, environment: Environment, **_: Any) -> None:
        self.stopping = False
        self._evaluated = False
        TELEMETRY.reset()
        if isinstance(environment.runner, MasterRunner):
            return
        for fn in self._start_hooks:
            fn(environment)

    def _on_test_stopping(self, environment: Environment, **_: Any) -> None:
        self.stopping = True
        if isinstance(environment.runner, MasterRunner):
            self._master_flush(environment)
        else:
            for fn in self._stopping_hooks:
                try:
                    fn(environment)
                except Exception as exc:
                    TELEMETRY.incr("stopping_hook_errors")
                    TELEMETRY.note(f"stopping_hook_error:{fn.__name__}", f"{type(exc).__name__}: {exc}")
            drain = float(opt(environment, "drain_seconds", 2.0))
            if drain > 0:
                gevent.sleep(drain)  # publishers have stopped; let receivers take what is in flight

    def _on_test_stop(self, environment: Environment, **_: Any) -> None:
        if isinstance(environment.runner, LocalRunner) and not isinstance(environment.runner, (MasterRunner, WorkerRunner)):
            self.evaluate(environment)

    def _on_quitting(self, environment: Environment, **_: Any) -> None:
        if isinstance(environment.runner, MasterRunner):
            self.evaluate(environment)

    def evaluate(self, environment: Environment) -> Verdict:
        verdict = Verdict(self.name)
        stats = environment.stats.total
        requests_n = stats.num_requests
        failures = stats.num_failures
        max_ratio = float(opt(environment, "max_fail_ratio", 0.0))
        ratio = failures / requests_n if requests_n else 0.0
        verdict.check("request failures", ratio <= max_ratio and (failures == 0 or max_ratio > 0), f"{failures} failed of {requests_n} requests (allowed ratio {max_ratio:g})")
        runner = environment.runner
        exceptions = sum(e["count"] for e in runner.exceptions.values()) if runner is not None else 0
        verdict.check("unhandled exceptions", exceptions == 0, f"{exceptions} exceptions in user code")
        if "workers:unflushed" in TELEMETRY.notes:
            verdict.check("final worker reports", False, TELEMETRY.notes["workers:unflushed"])
        if TELEMETRY.count("stopping_hook_errors"):
            errors = "; ".join(v for k, v in TELEMETRY.notes.items() if k.startswith("stopping_hook_error:"))
            verdict.check("stop hooks", False, errors)
        for fn in self._checks:
            try:
                fn(environment, TELEMETRY, verdict)
            except Exception as exc:  # a broken check is a failed check, never a silent pass
                verdict.check(f"check {fn.__name__}", False, f"raised {type(exc).__name__}: {exc}")
        verdict.metrics["counters"] = dict(TELEMETRY.counters)
        print(verdict.render(), flush=True)
        path = opt(environment, "verdict_file", "")
        if path:
            with open(path, "w", encoding="utf-8") as fh:
                json.dump(verdict.to_json(), fh, indent=2)
        if verdict.failed:
            environment.process_exit_code = 1
        self._evaluated = True
        return verdict


def body_fields(notification: dict[str, Any]) -> dict[str, Any]:
    body = body_of(notification)
    return body if isinstance(body, dict) else {}

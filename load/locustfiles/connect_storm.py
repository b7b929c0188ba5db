"""Connect storm: ramp to N connections with JWTs (negotiate → WebSocket → handshake); the connect
time is the measured response time (request ``WS connect``). Each connection then Subscribes to a
group (the hub answers) and holds; with ``--hold-seconds`` it closes and reconnects after that long,
so a long run keeps storming. When the test stops, one Global notification is published per load
process and every held connection must receive it (they are alive, not just open).

    locust -f load/locustfiles/connect_storm.py -H http://127.0.0.1:8080 --headless \
        -u 5000 -r 500 -t 2m --jwt-secret "$SECRET"          # 500 new connections/s up to 5000

Thresholds: no failed connect / Subscribe, connect p95 ≤ --max-connect-p95-ms, all -u connections
held at the end, every held connection receives the final broadcast.
"""

from __future__ import annotations

import itertools
import time

from locust import User, task

from tidings_load.client import notification_args
from tidings_load.locust_support import (
    AUDIENCE_GLOBAL,
    AUDIENCE_GROUP,
    RUN_ID,
    TELEMETRY,
    CheckFailed,
    Producer,
    Suite,
    body_fields,
    connect_reported,
    envelope,
    fire,
    hub_client,
    invoke_reported,
    now_ms,
    opt,
    report_receipt,
    worker_index,
)
from tidings_load.stats import format_summary

PROBE_TYPE = "load-connect-probe"
suite = Suite("connect_storm")
_numbers = itertools.count()
_live: set["Connector"] = set()


@suite.options
def _options(parser) -> None:
    parser.add_argument("--hold-seconds", type=float, default=0.0, env_var="TIDINGS_LOAD_HOLD_SECONDS", help="close and reconnect after holding this long (0: hold until the end)")
    parser.add_argument("--storm-groups", type=int, default=100, env_var="TIDINGS_LOAD_STORM_GROUPS", help="each connection Subscribes to one of this many groups (0: no Subscribe)")
    parser.add_argument("--max-connect-p95-ms", type=float, default=1000.0, env_var="TIDINGS_LOAD_MAX_CONNECT_P95_MS", help="threshold: p95 connect time (negotiate + upgrade + handshake)")
    parser.add_argument("--min-held-ratio", type=float, default=1.0, env_var="TIDINGS_LOAD_MIN_HELD_RATIO", help="threshold: share of -u connections open when the test stops")


class Connector(User):
    def wait_time(self) -> float:
        return 1.0

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.user_id = f"cs-{worker_index(self.environment)}-{self.number}"
        self.hub = None
        self.connected_at = 0.0
        self.probe_seen = False
        self._connect()

    def _connect(self) -> None:
        env = self.environment
        hub = hub_client(env, self.user_id)
        hub.on(PROBE_TYPE, self._on_probe)
        self.hub = hub
        if not connect_reported(env, hub):
            TELEMETRY.incr("connect_failed")
            return
        TELEMETRY.incr("connected")
        groups = int(opt(env, "storm_groups", 100))
        if groups > 0:
            invoke_reported(env, hub, "Subscribe", {"audienceType": AUDIENCE_GROUP, "audienceValue": f"cs-g{self.number % groups}"})
        self.connected_at = time.monotonic()
        _live.add(self)

    def _on_probe(self, args: list, received_at: float, size: int) -> None:
        notification = notification_args(args) or {}
        body = body_fields(notification)
        if body.get("run") != RUN_ID or self.probe_seen:
            return  # another load process's probe, or a repeat
        self.probe_seen = True
        TELEMETRY.incr("probe_received")
        report_receipt(self.environment, "broadcast probe", float(body["sentAt"]), received_at, size)

    @task
    def hold(self) -> None:
        hub = self.hub
        if hub is None or not hub.connected:
            if hub is not None and hub.closed.is_set() and not hub.closed_by_client:
                TELEMETRY.incr("unexpected_disconnects")
                fire(self.environment, "WS", "disconnect", 0, 0, CheckFailed(f"server closed the connection: {hub.close_error}"))
            _live.discard(self)
            if not suite.stopping:
                self._connect()
            return
        hold = float(opt(self.environment, "hold_seconds", 0.0))
        if hold > 0 and time.monotonic() - self.connected_at >= hold and not suite.stopping:
            _live.discard(self)
            hub.close()
            self._connect()

    def on_stop(self) -> None:
        _live.discard(self)
        if self.hub is not None:
            self.hub.close(timeout=0.5)


@suite.on_start
def _reset(environment) -> None:
    _live.clear()


@suite.on_stopping
def broadcast_probe(environment) -> None:
    """Before the drain: count the live connections and publish one Global probe to all of them."""
    held = [c for c in _live if c.hub is not None and c.hub.connected]
    TELEMETRY.incr("held_at_stop", len(held))
    for c in held:
        c.probe_seen = False
    producer = Producer(environment, name="POST /api/notifications (probe)")
    body = {"run": RUN_ID, "sentAt": now_ms()}
    result = producer.publish(envelope(f"{RUN_ID}-connect-probe-{int(time.time())}", PROBE_TYPE, AUDIENCE_GLOBAL, None, body))
    producer.close()
    TELEMETRY.incr("probe_expected", len(held) if result.ok else 0)
    TELEMETRY.incr("probe_publish_failed", 0 if result.ok else 1)


@suite.checks
def connect_checks(environment, telemetry, verdict) -> None:
    h = telemetry.histograms.get("connect")
    summary = h.summary() if h else None
    verdict.metrics["connect_ms"] = summary
    max_p95 = float(opt(environment, "max_connect_p95_ms", 1000.0))
    if summary and summary["count"] > 0:
        verdict.check(f"connect p95 ≤ {max_p95:g} ms", summary["p95"] <= max_p95, format_summary("connect", summary))
    else:
        verdict.check(f"connect p95 ≤ {max_p95:g} ms", False, "no connection succeeded")
    verdict.check("connect failures = 0", telemetry.count("connect_failed") == 0, f"{telemetry.count('connect_failed')} failed, {telemetry.count('connected')} succeeded")
    runner = environment.runner
    target = getattr(runner, "final_user_classes_count", None) or {}
    wanted = int(target.get("Connector", 0)) or int(getattr(environment.parsed_options, "num_users", 0) or 0)
    held = telemetry.count("held_at_stop")
    ratio = float(opt(environment, "min_held_ratio", 1.0))
    verdict.check(f"held ≥ {ratio:g} × users", wanted > 0 and held >= ratio * wanted, f"{held} connections open at stop of {wanted} users")
    verdict.check("unexpected disconnects = 0", telemetry.count("unexpected_disconnects") == 0, f"{telemetry.count('unexpected_disconnects')} closed by the server")
    expected, got = telemetry.count("probe_expected"), telemetry.count("probe_received")
    verdict.check("broadcast reaches every connection", expected > 0 and got >= expected and telemetry.count("probe_publish_failed") == 0, f"{got} of {expected} held connections received the final Global probe")

"""Fan-out: receivers hold connections in the Global, Group and User audiences; publishers POST
notifications at a fixed rate to /api/notifications. Every body carries the send timestamp and a
sequence; each receipt is a Locust request event (type RECV) whose response time is the
producer→client latency, and loss / duplicates / misrouting are counted per sequence.

    locust -f load/locustfiles/fanout.py -H http://127.0.0.1:8080 --headless -u 101 -r 50 -t 1m \
        --jwt-secret "$TIDINGS_AUTH_JWT_SECRET" --publish-rate 50

Users: ``Receiver`` (one hub connection each) and ``Publisher`` (``--publishers``, default 1).
Thresholds (checked at stop): no failed request, loss ≤ --max-loss, no duplicate, no misrouted
notification, p99 latency ≤ --max-p99-ms, at least --min-receipts receipts.
"""

from __future__ import annotations

import itertools
import time

from locust import User, events, task

from tidings_load.client import notification_args
from tidings_load.locust_support import (
    AUDIENCE_GLOBAL,
    AUDIENCE_GROUP,
    AUDIENCE_USER,
    RUN_ID,
    TELEMETRY,
    CheckFailed,
    Producer,
    Suite,
    audience_key,
    body_fields,
    connect_reported,
    envelope,
    fire,
    hub_client,
    invoke_reported,
    minter_for,
    now_ms,
    opt,
    report_receipt,
    worker_index,
)
from tidings_load.stats import format_summary

NOTIFICATION_TYPE = "load-fanout"
suite = Suite("fanout")
_receiver_numbers = itertools.count()
_publisher_numbers = itertools.count()


@suite.options
def _options(parser) -> None:
    parser.add_argument("--publish-rate", type=float, default=20.0, env_var="TIDINGS_LOAD_PUBLISH_RATE", help="notifications per second per publisher")
    parser.add_argument("--publish-batch", type=int, default=1, env_var="TIDINGS_LOAD_PUBLISH_BATCH", help="envelopes per POST (an array when > 1)")
    parser.add_argument("--publishers", type=int, default=1, env_var="TIDINGS_LOAD_PUBLISHERS", help="publisher users (the rest of -u are receivers)")
    parser.add_argument("--audiences", default="global,group,user", env_var="TIDINGS_LOAD_AUDIENCES", help="audiences the publisher cycles through: global,group,user")
    parser.add_argument("--groups", type=int, default=10, env_var="TIDINGS_LOAD_GROUPS", help="receivers are spread over this many groups")
    parser.add_argument("--user-pool", type=int, default=1000, env_var="TIDINGS_LOAD_USER_POOL", help="receivers are spread over this many user ids (several devices per user when fewer than receivers)")
    parser.add_argument("--body-bytes", type=int, default=200, env_var="TIDINGS_LOAD_BODY_BYTES", help="approximate size of a delivered notification")
    parser.add_argument("--max-p99-ms", type=float, default=250.0, env_var="TIDINGS_LOAD_MAX_P99_MS", help="threshold: p99 producer→client latency")
    parser.add_argument("--max-loss", type=int, default=0, env_var="TIDINGS_LOAD_MAX_LOSS", help="threshold: notifications lost")
    parser.add_argument("--min-receipts", type=int, default=1, env_var="TIDINGS_LOAD_MIN_RECEIPTS", help="threshold: fewest receipts for a meaningful run")


@events.init.add_listener
def _on_init(environment, **_) -> None:
    if environment.parsed_options is not None:
        Publisher.fixed_count = max(0, int(environment.parsed_options.publishers))


def _audiences(environment) -> list[str]:
    wanted = [a.strip() for a in (opt(environment, "audiences", "global") or "global").split(",") if a.strip()]
    if "user" in wanted and minter_for(environment) is None:
        TELEMETRY.note("fanout:user", "user audience left out: anonymous connections have no user (pass --jwt-secret)")
        wanted.remove("user")
    return wanted or ["global"]


class Receiver(User):
    """Holds one connection: Global (+ its User audience with a JWT) + one Group."""

    weight = 1

    def wait_time(self) -> float:
        return 1.0

    def on_start(self) -> None:
        env = self.environment
        self.number = next(_receiver_numbers)
        index = worker_index(env) * 100_003 + self.number
        self.user_id = f"fan-u{index % max(1, int(opt(env, 'user_pool', 1000)))}"
        self.group_name = f"fan-g{self.number % max(1, int(opt(env, 'groups', 10)))}"
        self.audiences = _audiences(env)
        self.hub = None
        self.rid = None
        self._connect()

    def _connect(self) -> bool:
        env = self.environment
        self.rid = f"{RUN_ID}-r{self.number}-{time.monotonic_ns() % 1_000_000}"
        client = hub_client(env, self.user_id)
        client.on(NOTIFICATION_TYPE, self._on_notification)
        self.hub = client
        ledger = TELEMETRY.ledger
        automatic = ["global"] + ([audience_key(AUDIENCE_USER, self.user_id)] if client.token and "user" in self.audiences else [])
        for key in automatic:
            ledger.joining(self.rid, key)  # joined by the server before its handshake response
        if not connect_reported(env, client):
            ledger.closed(self.rid, now_ms())
            return False
        joined = now_ms()
        ledger.joined(self.rid, "global", joined)
        if client.token and "user" in self.audiences:
            ledger.joined(self.rid, audience_key(AUDIENCE_USER, self.user_id), joined)
        if "group" in self.audiences:
            group = audience_key(AUDIENCE_GROUP, self.group_name)
            ledger.joining(self.rid, group)
            ok, _ = invoke_reported(env, client, "Subscribe", {"audienceType": AUDIENCE_GROUP, "audienceValue": self.group_name})
            if ok:
                ledger.joined(self.rid, group, now_ms())
            else:
                ledger.join_failed(self.rid, group)
        return True

    def _on_notification(self, args: list, received_at: float, size: int) -> None:
        notification = notification_args(args)
        if notification is None:
            TELEMETRY.incr("malformed_notifications")
            return
        body = body_fields(notification)
        if "pub" not in body or "aseq" not in body:
            TELEMETRY.incr("foreign_notifications")
            return
        aud = notification.get("audienceId")
        if aud != body.get("aud"):
            TELEMETRY.incr("audience_mismatch")
        TELEMETRY.ledger.received(self.rid, body["pub"], str(aud), int(body["aseq"]))
        kind = str(aud).split(":", 1)[0]
        latency = report_receipt(self.environment, f"fanout {kind}", float(body["sentAt"]), received_at, size)
        TELEMETRY.observe("fanout", latency)

    @task
    def hold(self) -> None:
        client = self.hub
        if client is not None and client.closed.is_set() and not client.closed_by_client:
            TELEMETRY.ledger.closed(self.rid, now_ms())
            TELEMETRY.incr("unexpected_disconnects")
            fire(self.environment, "WS", "disconnect", 0, 0, CheckFailed(f"server closed the connection: {client.close_error}"))
            self._connect()
        elif client is None or (client.closed.is_set() and client.closed_by_client) or not client.connected:
            self._connect()

    def on_stop(self) -> None:
        if self.rid is not None:
            TELEMETRY.ledger.closed(self.rid, now_ms())
        if self.hub is not None:
            self.hub.close(timeout=0.5)


class Publisher(User):
    """POSTs numbered notifications at --publish-rate, cycling through the audiences."""

    fixed_count = 1  # set from --publishers at init

    def on_start(self) -> None:
        env = self.environment
        self.producer = Producer(env)
        self.pub = f"{RUN_ID}-p{next(_publisher_numbers)}"
        self.seq = 0
        self.aseq: dict[str, int] = {}
        self.audiences = _audiences(env)
        self.groups = max(1, int(opt(env, "groups", 10)))
        self.user_pool = max(1, int(opt(env, "user_pool", 1000)))
        self.batch = max(1, int(opt(env, "publish_batch", 1)))
        self.interval = self.batch / max(0.001, float(opt(env, "publish_rate", 20.0)))
        self.padding = "x" * max(0, int(opt(env, "body_bytes", 200)) - 180)
        self._next = time.monotonic()

    def wait_time(self) -> float:
        # constant rate, catching up without bursts when a POST took longer than the interval
        self._next += self.interval
        delay = self._next - time.monotonic()
        if delay < 0:
            self._next = time.monotonic()
            return 0.0
        return delay

    def _target(self) -> tuple[int, str | None]:
        kind = self.audiences[self.seq % len(self.audiences)]
        turn = self.seq // len(self.audiences)
        if kind == "group":
            return AUDIENCE_GROUP, f"fan-g{turn % self.groups}"
        if kind == "user":
            return AUDIENCE_USER, f"fan-u{turn % self.user_pool}"
        return AUDIENCE_GLOBAL, None

    @task
    def publish(self) -> None:
        if suite.stopping:
            return
        sent_at = now_ms()
        batch, keys = [], []
        for _ in range(self.batch):
            audience_type, value = self._target()
            key = audience_key(audience_type, value)
            aseq = self.aseq.get(key, 0)
            self.aseq[key] = aseq + 1
            body = {"run": RUN_ID, "pub": self.pub, "seq": self.seq, "aud": key, "aseq": aseq, "sentAt": sent_at, "pad": self.padding}
            batch.append(envelope(f"{self.pub}-{self.seq}", NOTIFICATION_TYPE, audience_type, value, body))
            keys.append((key, aseq))
            self.seq += 1
        result = self.producer.publish(batch if self.batch > 1 else batch[0])
        for key, aseq in keys:
            TELEMETRY.ledger.record_publish(self.pub, key, aseq, sent_at, result.ack_ms if result.ok else None)
        TELEMETRY.incr("published" if result.ok else "publish_failed", len(keys))

    def on_stop(self) -> None:
        self.producer.close()


@suite.checks
def fanout_checks(environment, telemetry, verdict) -> None:
    result = telemetry.ledger.evaluate(
        now_ms(),
        grace_ms=float(opt(environment, "loss_grace_ms", 1000.0)),
        skew_ms=float(opt(environment, "clock_skew_ms", 0.0)),
    )
    verdict.metrics["loss"] = {k: v for k, v in result.items() if k != "samples"}
    max_loss = int(opt(environment, "max_loss", 0))
    detail = (
        f"lost {result['lost']} of {result['expected']} expected deliveries (received {result['received']}) "
        f"to {result['receivers']} receivers from {result['published']} notifications"
    )
    if result["samples"]:
        detail += "; " + "; ".join(result["samples"])
    verdict.check(f"loss ≤ {max_loss}", result["lost"] <= max_loss and result["publish_failed"] == 0, detail + (f"; {result['publish_failed']} POSTs failed" if result["publish_failed"] else ""))
    verdict.check("duplicates = 0", result["duplicates"] == 0, f"{result['duplicates']} duplicate receipts")
    misrouted = result["misrouted"] + telemetry.count("audience_mismatch") + telemetry.count("malformed_notifications")
    verdict.check("misrouted = 0", misrouted == 0, f"{result['misrouted']} for audiences not joined, {telemetry.count('audience_mismatch')} audienceId ≠ body, {telemetry.count('malformed_notifications')} malformed")
    verdict.check("unexpected disconnects = 0", telemetry.count("unexpected_disconnects") == 0, f"{telemetry.count('unexpected_disconnects')} connections closed by the server")
    min_receipts = int(opt(environment, "min_receipts", 1))
    hist = telemetry.histograms.get("fanout")
    count = hist.count if hist else 0
    verdict.check(f"receipts ≥ {min_receipts}", count >= min_receipts and result["expected"] > 0, f"{count} receipts, {result['expected']} expected")
    max_p99 = float(opt(environment, "max_p99_ms", 250.0))
    summary = hist.summary() if hist else None
    verdict.metrics["latency_ms"] = summary
    for name, h in sorted(telemetry.histograms.items()):
        if name.startswith("fanout "):
            verdict.metrics[f"latency_ms {name}"] = h.summary()
    if summary:
        per_audience = "; ".join(format_summary(n, h.summary()) for n, h in sorted(telemetry.histograms.items()) if n.startswith("fanout "))
        verdict.check(f"p99 latency ≤ {max_p99:g} ms", summary["p99"] <= max_p99, format_summary("all", summary) + (f" | {per_audience}" if per_audience else ""))
    else:
        verdict.check(f"p99 latency ≤ {max_p99:g} ms", False, "no receipts")
    for key, text in telemetry.notes.items():
        if key.startswith("fanout:"):
            verdict.skip(key.split(":", 1)[1] + " audience", text)

"""Reconnect storm: every user holds one connection as its own user (JWT). Once all are connected, a
storm controller in each load process drops a share of its connections at once (TCP shutdown, no
close frame: a lost network), and publishes persisted notifications to the dropped users while they
are down. The dropped clients reconnect with exponential backoff and full jitter, as
``withAutomaticReconnect`` does. Measured:

- ``WS reconnect``: per connection, drop → handshake done again (backoff included);
- ``STORM full recovery``: drop → the last dropped connection is back;
- ``RECV replay``: a notification published while the user was down, replayed after reconnect
  (response time = reconnect → receipt);
- a Global broadcast after every storm must reach every connection.

    locust -f load/locustfiles/reconnect_storm.py -H http://127.0.0.1:8080 --headless \
        -u 2000 -r 200 -t 3m --jwt-secret "$SECRET" --drop-share 0.5 --storm-interval 30

Replay needs persistence (docs/contract.md §6). The suite probes for it at start (a persisted
notification published before connecting must be replayed); without it the replay check is reported
as SKIP with the reason, and it becomes a hard check as soon as the server replays, or with
``--require replay``.
"""

from __future__ import annotations

import itertools
import random
import time

import gevent
from locust import User, task

from tidings_load.client import notification_args
from tidings_load.locust_support import (
    AUDIENCE_GLOBAL,
    AUDIENCE_USER,
    REPLAY,
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
    minter_for,
    now_ms,
    opt,
    probe_replay,
    report_receipt,
)
from tidings_load.stats import format_summary

REPLAY_TYPE = "load-replay"
LIVE_TYPE = "load-live"
suite = Suite("reconnect_storm")
_numbers = itertools.count()
_holders: set["Holder"] = set()
_controller: list[gevent.Greenlet] = []


@suite.options
def _options(parser) -> None:
    parser.add_argument("--drop-share", type=float, default=0.5, env_var="TIDINGS_LOAD_DROP_SHARE", help="share of connections dropped in each storm")
    parser.add_argument("--storm-interval", type=float, default=20.0, env_var="TIDINGS_LOAD_STORM_INTERVAL", help="seconds from one storm to the next")
    parser.add_argument("--storm-settle", type=float, default=1.0, env_var="TIDINGS_LOAD_STORM_SETTLE", help="seconds all connections must be up before the first storm")
    parser.add_argument("--replay-per-user", type=int, default=2, env_var="TIDINGS_LOAD_REPLAY_PER_USER", help="persisted notifications published to each dropped user while it is down")
    parser.add_argument("--backoff-initial", type=float, default=1.0, env_var="TIDINGS_LOAD_BACKOFF_INITIAL", help="first reconnect delay (s); attempt k waits min(max, initial·2^k)·U(0.5, 1)")
    parser.add_argument("--backoff-max", type=float, default=10.0, env_var="TIDINGS_LOAD_BACKOFF_MAX", help="largest reconnect delay (s)")
    parser.add_argument("--recovery-timeout", type=float, default=30.0, env_var="TIDINGS_LOAD_RECOVERY_TIMEOUT", help="a storm not recovered within this many seconds fails")
    parser.add_argument("--replay-wait", type=float, default=5.0, env_var="TIDINGS_LOAD_REPLAY_WAIT", help="seconds after recovery to wait for replayed notifications")
    parser.add_argument("--max-recovery-ms", type=float, default=20000.0, env_var="TIDINGS_LOAD_MAX_RECOVERY_MS", help="threshold: worst full-recovery time of a storm")


class Holder(User):
    def wait_time(self) -> float:
        return 0.0

    def on_start(self) -> None:
        self.number = next(_numbers)
        self.user_id = f"rs-{RUN_ID}-{self.number}"
        self.hub = None
        self.down_since_ms: float | None = None
        self.reconnected_ms: float | None = None
        self.got: dict[str, float] = {}  # replay-type notification id → first receipt (epoch ms)
        self.live_seen: set[int] = set()  # broadcast storms seen
        self.expected: dict[str, tuple[float, float, bool]] = {}  # id → (send ms, ack ms, accepted)
        _holders.add(self)
        self._connect(name="connect")

    def _connect(self, name: str) -> bool:
        hub = hub_client(self.environment, self.user_id)
        hub.on(REPLAY_TYPE, self._on_replay)
        hub.on(LIVE_TYPE, self._on_live)
        self.hub = hub
        return connect_reported(self.environment, hub, name)

    def _on_replay(self, args: list, received_at: float, size: int) -> None:
        n = notification_args(args) or {}
        nid = str(n.get("id"))
        if nid in self.got:
            TELEMETRY.incr("replay_duplicates")  # at-least-once: allowed, counted
            return
        self.got[nid] = received_at * 1000.0

    def _on_live(self, args: list, received_at: float, size: int) -> None:
        body = body_fields(notification_args(args) or {})
        if body.get("run") != RUN_ID:
            return
        storm = int(body.get("storm", -1))
        if storm in self.live_seen:
            TELEMETRY.incr("broadcast_duplicates")
            return
        self.live_seen.add(storm)
        TELEMETRY.incr("broadcast_received")
        report_receipt(self.environment, "broadcast after storm", float(body["sentAt"]), received_at, size)

    def drop(self) -> None:
        self.down_since_ms = now_ms()
        self.reconnected_ms = None
        if self.hub is not None:
            self.hub.drop()

    @task
    def hold(self) -> None:
        hub = self.hub
        if hub is not None and hub.connected:
            hub.closed.wait(1.0)
            return
        if suite.stopping:
            gevent.sleep(0.5)
            return
        if hub is not None and not hub.closed_by_client:
            TELEMETRY.incr("unexpected_disconnects")
            fire(self.environment, "WS", "disconnect", 0, 0, CheckFailed(f"server closed the connection: {hub.close_error}"))
            self.down_since_ms = now_ms()
        if self.down_since_ms is None:
            self.down_since_ms = now_ms()
        initial = float(opt(self.environment, "backoff_initial", 1.0))
        cap = float(opt(self.environment, "backoff_max", 10.0))
        for attempt in itertools.count():
            gevent.sleep(min(cap, initial * 2**attempt) * random.uniform(0.5, 1.0))
            if suite.stopping:
                return
            if self._connect(name="connect (retry)" if attempt else "connect (reconnect)"):
                self.reconnected_ms = now_ms()
                fire(self.environment, "WS", "reconnect", self.reconnected_ms - self.down_since_ms)
                TELEMETRY.observe("reconnect", self.reconnected_ms - self.down_since_ms)
                self.down_since_ms = None
                return

    def on_stop(self) -> None:
        _holders.discard(self)
        if self.hub is not None:
            self.hub.close(timeout=0.5)


def _wait(predicate, timeout: float, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        if suite.stopping:
            return False
        gevent.sleep(step)
    return predicate()


def _storm_loop(environment) -> None:
    producer = Producer(environment, name="POST /api/notifications (storm)")
    if minter_for(environment) is None:
        supported, why = False, "anonymous connections have no user audience to replay to (pass --jwt-secret)"
    else:
        supported, why = probe_replay(environment, producer, f"rs-probe-{RUN_ID}")
    TELEMETRY.note(f"capability:{REPLAY}", "yes" if supported else "no")
    TELEMETRY.note(f"capability:{REPLAY}:why", why)
    share = float(opt(environment, "drop_share", 0.5))
    interval = float(opt(environment, "storm_interval", 20.0))
    settle = float(opt(environment, "storm_settle", 1.0))
    per_user = max(0, int(opt(environment, "replay_per_user", 2)))
    runner = environment.runner

    def all_up() -> bool:
        holders = list(_holders)
        return bool(holders) and len(holders) >= runner.user_count and all(h.hub is not None and h.hub.connected for h in holders)

    storm = 0
    while not suite.stopping:
        # first storm: after the ramp, with every connection up for `settle` seconds
        while not suite.stopping:
            if _wait(all_up, 3600):
                gevent.sleep(settle)
                if all_up():
                    break
        if suite.stopping:
            return
        started = time.monotonic()
        storm += 1
        live = [h for h in _holders if h.hub is not None and h.hub.connected]
        victims = random.sample(live, max(1, round(share * len(live))))
        drop_ms = now_ms()
        for v in victims:
            v.expected = {}
            v.drop()
        # while they are down: persisted notifications to each dropped user
        batch: list[tuple["Holder", dict]] = []
        for v in victims:
            for i in range(per_user):
                nid = f"{RUN_ID}-s{storm}-{v.number}-{i}"
                batch.append((v, envelope(nid, REPLAY_TYPE, AUDIENCE_USER, v.user_id, {"run": RUN_ID, "storm": storm, "sentAt": now_ms()}, persisted=True)))
        for start in range(0, len(batch), 500):
            chunk = batch[start : start + 500]
            result = producer.publish([e for _, e in chunk])
            for v, e in chunk:
                v.expected[e["id"]] = (result.send_ms, result.ack_ms, result.ok)
        recovered = _wait(lambda: all(v.reconnected_ms is not None for v in victims), float(opt(environment, "recovery_timeout", 30.0)))
        if suite.stopping:
            return  # an interrupted storm is not counted
        back = [v.reconnected_ms for v in victims if v.reconnected_ms is not None]
        recovery_ms = (max(back) if recovered else now_ms()) - drop_ms
        TELEMETRY.observe("recovery", recovery_ms)
        TELEMETRY.incr("storms")
        TELEMETRY.incr("dropped", len(victims))
        if not recovered:
            TELEMETRY.incr("storms_unrecovered")
        fire(environment, "STORM", "full recovery", recovery_ms, len(victims), None if recovered else CheckFailed(f"{len(victims) - len(back)} of {len(victims)} not back"))

        def replay_done() -> bool:
            return all(nid in v.got for v in victims for nid, (_, _, ok) in v.expected.items() if ok)

        _wait(replay_done, float(opt(environment, "replay_wait", 5.0)) if supported else 1.0)
        if suite.stopping:
            return
        for v in victims:
            for nid, (send_ms, ack_ms, ok) in v.expected.items():
                if not ok:
                    continue
                # sent after the reconnect: must arrive live; sent while down: only replay brings it
                kind = "live" if v.reconnected_ms is not None and send_ms >= v.reconnected_ms else "replay"
                TELEMETRY.incr(f"{kind}_expected")
                if nid in v.got:
                    TELEMETRY.incr(f"{kind}_received")
                    if kind == "replay" and v.reconnected_ms is not None:
                        latency = v.got[nid] - v.reconnected_ms
                        TELEMETRY.observe("replay after reconnect", latency)
                        fire(environment, "RECV", "replay after reconnect", latency)
        # every connection, dropped or not, must get a live broadcast now
        up = [h for h in _holders if h.hub is not None and h.hub.connected]
        result = producer.publish(envelope(f"{RUN_ID}-live-{storm}", LIVE_TYPE, AUDIENCE_GLOBAL, None, {"run": RUN_ID, "storm": storm, "sentAt": now_ms()}))
        if result.ok:
            _wait(lambda: all(storm in h.live_seen for h in up), 5.0)
            TELEMETRY.incr("broadcast_expected", len(up))
            TELEMETRY.incr("broadcast_missed", sum(1 for h in up if storm not in h.live_seen))
        remaining = interval - (time.monotonic() - started)
        if remaining > 0 and not suite.stopping:
            gevent.sleep(remaining)


@suite.on_start
def _start_controller(environment) -> None:
    _holders.clear()
    _controller.append(gevent.spawn(_storm_loop, environment))


@suite.on_stopping
def _stop_controller(environment) -> None:
    while _controller:
        _controller.pop().kill(block=True, timeout=5)


@suite.checks
def reconnect_checks(environment, telemetry, verdict) -> None:
    storms = telemetry.count("storms")
    verdict.check("storms ≥ 1", storms >= 1, f"{storms} storms completed, {telemetry.count('dropped')} connections dropped in all")
    h = telemetry.histograms.get("recovery")
    max_ms = float(opt(environment, "max_recovery_ms", 20000.0))
    if h and h.count:
        verdict.metrics["recovery_ms"] = h.summary()
        verdict.check(f"full recovery ≤ {max_ms:g} ms", h.max_ms <= max_ms and telemetry.count("storms_unrecovered") == 0, f"{format_summary('recovery', h.summary())}; {telemetry.count('storms_unrecovered')} storms not recovered")
    else:
        verdict.check(f"full recovery ≤ {max_ms:g} ms", False, "no storm completed")
    r = telemetry.histograms.get("reconnect")
    if r and r.count:
        verdict.metrics["reconnect_ms"] = r.summary()
    verdict.check("unexpected disconnects = 0", telemetry.count("unexpected_disconnects") == 0, f"{telemetry.count('unexpected_disconnects')} closed by the server")
    live_exp, live_got = telemetry.count("live_expected"), telemetry.count("live_received")
    if live_exp:  # only when a reconnect beat the storm's publish (fast backoff): those must arrive live
        verdict.check("published after reconnect: all delivered", live_got >= live_exp, f"{live_got} of {live_exp}")
    b_exp, b_missed = telemetry.count("broadcast_expected"), telemetry.count("broadcast_missed")
    verdict.check("broadcast after storm reaches every connection", storms == 0 or (b_exp > 0 and b_missed == 0), f"{b_exp - b_missed} of {b_exp} (duplicates {telemetry.count('broadcast_duplicates')})")
    rep_exp, rep_got = telemetry.count("replay_expected"), telemetry.count("replay_received")

    def replay_ok() -> tuple[bool, str]:
        summary = telemetry.histograms.get("replay after reconnect")
        text = f"{rep_got} of {rep_exp} notifications published while disconnected were replayed (duplicates {telemetry.count('replay_duplicates')})"
        if summary and summary.count:
            verdict.metrics["replay_ms"] = summary.summary()
            text += "; " + format_summary("replay after reconnect", summary.summary())
        return rep_exp > 0 and rep_got >= rep_exp, text

    verdict.gated(environment, REPLAY, "replay of persisted notifications after reconnect", replay_ok)

"""Inbox soak: each Locust user is one person (JWT ``sub``) with several devices (hub connections).
Over a long run the person receives persisted notifications and, from random devices, marks them
read / unread (MarkAsRead, MarkAsUnread) and deleted (MarkAsDeleted). Every device keeps its own view
from what the server sends — deliveries, ``EventReadStatusChange``, ``EventDeletedStatusChange`` and
the replay after a device reconnects — and at the end every device must have converged to the
person's true state (docs/contract.md §4, §6).

    locust -f load/locustfiles/inbox_soak.py -H http://127.0.0.1:8080 --headless \
        -u 200 -r 20 -t 30m --jwt-secret "$SECRET" --devices 3

Measured: ``RECV inbox delivery`` (producer → each device), ``RECV EventReadStatusChange`` /
``EventDeletedStatusChange`` (the call → the event on each device), ``HUB MarkAsRead`` … round trips.

Capabilities are probed at start: MarkAsRead answering ``Method does not exist`` means read state is
not built, and a persisted notification not replayed to a fresh connection means replay is not
built. Their checks are then reported as SKIP (with the reason) and the soak still checks live
multi-device delivery; they become hard checks once the server has them, or with ``--require``.
"""

from __future__ import annotations

import itertools
import random

import gevent
from locust import User, task

from tidings_load.client import HubClient, notification_args
from tidings_load.locust_support import (
    AUDIENCE_USER,
    INBOX,
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
    invoke_reported,
    minter_for,
    now_ms,
    opt,
    probe_inbox,
    probe_replay,
    report_receipt,
)
from tidings_load.stats import format_summary

NOTIFICATION_TYPE = "load-inbox"
suite = Suite("inbox_soak")
_numbers = itertools.count()
_probe: list[gevent.Greenlet] = []


@suite.options
def _options(parser) -> None:
    parser.add_argument("--devices", type=int, default=3, env_var="TIDINGS_LOAD_DEVICES", help="connections (devices) per user")
    parser.add_argument("--inbox-size", type=int, default=50, env_var="TIDINGS_LOAD_INBOX_SIZE", help="undeleted notifications kept per user (keep below TIDINGS_REPLAY_LIMIT)")
    parser.add_argument("--think-min", type=float, default=0.5, env_var="TIDINGS_LOAD_THINK_MIN", help="seconds between a user's actions (min)")
    parser.add_argument("--think-max", type=float, default=1.5, env_var="TIDINGS_LOAD_THINK_MAX", help="seconds between a user's actions (max)")
    parser.add_argument("--replay-settle", type=float, default=1.5, env_var="TIDINGS_LOAD_REPLAY_SETTLE", help="seconds a reconnected device waits for its replay")
    parser.add_argument("--max-delivery-p99-ms", type=float, default=1000.0, env_var="TIDINGS_LOAD_MAX_DELIVERY_P99_MS", help="threshold: p99 producer → device latency")
    parser.add_argument("--max-event-p99-ms", type=float, default=1000.0, env_var="TIDINGS_LOAD_MAX_EVENT_P99_MS", help="threshold: p99 MarkAs… call → event on every device")


def _capable(capability: str) -> bool:
    return TELEMETRY.notes.get(f"capability:{capability}") == "yes"


def _probe_capabilities(environment) -> None:
    if minter_for(environment) is None:
        for capability in (INBOX, REPLAY):
            TELEMETRY.note(f"capability:{capability}", "no")
            TELEMETRY.note(f"capability:{capability}:why", "anonymous connections have no user (pass --jwt-secret)")
        return
    probe = hub_client(environment, f"inbox-probe-{RUN_ID}")
    try:
        probe.connect()
        supported, why = probe_inbox(environment, probe)
        if supported:
            try:
                probe.invoke("MarkAsUnread", "user:tidings-load-probe", "probe")
            except Exception as exc:  # noqa: BLE001
                if getattr(exc, "method_missing", False):
                    TELEMETRY.note("inbox:no-unread", "yes")
    except Exception as exc:  # noqa: BLE001
        supported, why = False, f"inbox probe could not connect: {exc}"
    finally:
        probe.close()
    TELEMETRY.note(f"capability:{INBOX}", "yes" if supported else "no")
    TELEMETRY.note(f"capability:{INBOX}:why", why)
    producer = Producer(environment, name="POST /api/notifications (probe)")
    supported, why = probe_replay(environment, producer, f"inbox-replay-probe-{RUN_ID}")
    producer.close()
    TELEMETRY.note(f"capability:{REPLAY}", "yes" if supported else "no")
    TELEMETRY.note(f"capability:{REPLAY}:why", why)


@suite.on_start
def _start_probe(environment) -> None:
    _probe.append(gevent.spawn(_probe_capabilities, environment))


@suite.on_stopping
def _stop_probe(environment) -> None:
    while _probe:
        _probe.pop().kill(block=True, timeout=5)


class Device:
    """One connection of a user and the inbox view it builds from what the server sends."""

    def __init__(self, user: "InboxUser", index: int) -> None:
        self.user = user
        self.index = index
        self.hub: HubClient | None = None
        self.view: dict[str, dict] = {}  # id → {"read": bool, "deleted": bool}
        self.replaying = False
        self.replayed: dict[str, bool] = {}  # id → isRead as replayed

    def connect(self, name: str = "connect") -> bool:
        hub = hub_client(self.user.environment, self.user.user_id)
        hub.on(NOTIFICATION_TYPE, self._on_notification)
        hub.on("EventReadStatusChange", self._on_read)
        hub.on("EventDeletedStatusChange", self._on_deleted)
        self.hub = hub
        return connect_reported(self.user.environment, hub, name)

    def _on_notification(self, args: list, received_at: float, size: int) -> None:
        n = notification_args(args) or {}
        body = body_fields(n)
        if body.get("uid") != self.user.user_id:
            TELEMETRY.incr("inbox_foreign_notifications")  # another user's notification: a leak
            return
        nid = str(n.get("id"))
        is_read = bool(n.get("isRead", False))
        if self.replaying:
            self.replayed[nid] = is_read
            self.view[nid] = {"read": is_read, "deleted": False}
            return
        if nid in self.view:
            TELEMETRY.incr("inbox_live_duplicates")
            return
        self.view[nid] = {"read": is_read, "deleted": False}
        TELEMETRY.incr("inbox_delivered")
        report_receipt(self.user.environment, "inbox delivery", float(body["sentAt"]), received_at, size)

    def _event(self, kind: str, args: list, received_at: float, size: int) -> None:
        event = args[0] if args and isinstance(args[0], dict) else {}
        nid = str(event.get("eventId"))
        if not nid.startswith(self.user.user_id + "-"):
            TELEMETRY.incr("inbox_foreign_events")  # another user's read state: a leak
            return
        value = bool(event.get("isRead" if kind == "read" else "isDeleted"))
        entry = self.view.setdefault(nid, {"read": False, "deleted": False})
        entry["read" if kind == "read" else "deleted"] = value
        sent = self.user.pending.get((nid, kind, value))
        if sent is None:
            TELEMETRY.incr("inbox_unexpected_events")
            return
        TELEMETRY.incr("inbox_events_received")
        name = "EventReadStatusChange" if kind == "read" else "EventDeletedStatusChange"
        latency = received_at * 1000.0 - sent
        TELEMETRY.observe("inbox events", latency)
        report_receipt(self.user.environment, name, sent, received_at, size)

    def _on_read(self, args: list, received_at: float, size: int) -> None:
        self._event("read", args, received_at, size)

    def _on_deleted(self, args: list, received_at: float, size: int) -> None:
        self._event("deleted", args, received_at, size)


class InboxUser(User):
    def wait_time(self) -> float:
        return random.uniform(float(opt(self.environment, "think_min", 0.5)), float(opt(self.environment, "think_max", 1.5)))

    def on_start(self) -> None:
        env = self.environment
        self.number = next(_numbers)
        self.user_id = f"inbox-{RUN_ID}-{self.number}"
        self.model: dict[str, dict] = {}  # the truth: id → {"read", "deleted"}
        self.pending: dict[tuple[str, str, bool], float] = {}  # (id, kind, value) → call sent (epoch ms)
        self.counter = itertools.count()
        self.producer = Producer(env)
        self.devices = [Device(self, k) for k in range(max(1, int(opt(env, "devices", 3))))]
        if minter_for(env) is None:
            TELEMETRY.incr("inbox_no_identity")
        for device in self.devices:
            device.connect()

    # -- actions -------------------------------------------------------------------
    def _live_ids(self) -> list[str]:
        return [nid for nid, m in self.model.items() if not m["deleted"]]

    @task(4)
    def publish(self) -> None:
        if suite.stopping:
            return
        if len(self._live_ids()) >= int(opt(self.environment, "inbox_size", 50)):
            if _capable(INBOX):
                self.delete()
            return
        nid = f"{self.user_id}-{next(self.counter)}"
        body = {"run": RUN_ID, "uid": self.user_id, "sentAt": now_ms()}
        result = self.producer.publish(envelope(nid, NOTIFICATION_TYPE, AUDIENCE_USER, self.user_id, body, persisted=True))
        if result.ok:
            self.model[nid] = {"read": False, "deleted": False}
            TELEMETRY.incr("inbox_delivery_expected", sum(1 for d in self.devices if d.hub is not None and d.hub.connected))

    def _call(self, method: str, nid: str, kind: str, value: bool) -> bool:
        device = random.choice([d for d in self.devices if d.hub is not None and d.hub.connected] or [None])
        if device is None:
            return False
        self.pending[(nid, kind, value)] = now_ms()
        ok, _ = invoke_reported(self.environment, device.hub, method, f"user:{self.user_id}", nid)
        if ok:
            TELEMETRY.incr("inbox_events_expected", sum(1 for d in self.devices if d.hub is not None and d.hub.connected))
        return ok

    @task(3)
    def toggle_read(self) -> None:
        if suite.stopping or not _capable(INBOX):
            return
        ids = self._live_ids()
        if not ids:
            return
        nid = random.choice(ids)
        target = not self.model[nid]["read"]
        if not target and TELEMETRY.notes.get("inbox:no-unread") == "yes":
            return
        if self._call("MarkAsRead" if target else "MarkAsUnread", nid, "read", target):
            self.model[nid]["read"] = target

    @task(1)
    def delete(self) -> None:
        if suite.stopping or not _capable(INBOX):
            return
        ids = self._live_ids()
        if not ids:
            return
        nid = random.choice(ids)
        if self._call("MarkAsDeleted", nid, "deleted", True):
            self.model[nid]["deleted"] = True

    @task(1)
    def reconnect_device(self) -> None:
        """A device goes away and comes back: its replay must match the person's state."""
        if suite.stopping or not _capable(REPLAY):
            return
        device = random.choice(self.devices)
        if device.hub is not None:
            device.hub.close()
        device.view = {}
        device.replayed = {}
        device.replaying = True
        try:
            if not device.connect(name="connect (device reconnect)"):
                return
            gevent.sleep(float(opt(self.environment, "replay_settle", 1.5)))
        finally:
            device.replaying = False
        live = {nid: m for nid, m in self.model.items() if not m["deleted"]}
        missing = [nid for nid in live if nid not in device.replayed]
        resurrected = [nid for nid in device.replayed if nid in self.model and self.model[nid]["deleted"]]
        wrong_read = [nid for nid, r in device.replayed.items() if nid in live and r != live[nid]["read"]]
        TELEMETRY.incr("replay_checks")
        TELEMETRY.incr("replay_expected", len(live))
        TELEMETRY.incr("replay_missing", len(missing))
        TELEMETRY.incr("replay_deleted_returned", len(resurrected))
        TELEMETRY.incr("replay_read_mismatch", len(wrong_read))
        if missing or resurrected or wrong_read:
            fire(self.environment, "CHECK", "replay matches inbox", 0, 0, CheckFailed(f"missing {len(missing)}, deleted returned {len(resurrected)}, wrong isRead {len(wrong_read)}"))
            TELEMETRY.note("replay:sample", f"device {device.index} of {self.user_id}: missing {missing[:3]}, deleted returned {resurrected[:3]}, wrong isRead {wrong_read[:3]}")

    @task(1)
    def hold(self) -> None:
        for device in self.devices:
            hub = device.hub
            if hub is not None and hub.closed.is_set() and not hub.closed_by_client:
                TELEMETRY.incr("unexpected_disconnects")
                fire(self.environment, "WS", "disconnect", 0, 0, CheckFailed(f"server closed the connection: {hub.close_error}"))
                device.connect(name="connect (after disconnect)")

    # -- convergence ---------------------------------------------------------------
    def on_stop(self) -> None:
        """After the drain: every device's view must equal the model."""
        inbox = _capable(INBOX)
        for device in self.devices:
            if device.hub is None:
                continue
            diverged = 0
            for nid, truth in self.model.items():
                seen = device.view.get(nid)
                if truth["deleted"]:
                    ok = seen is None or seen["deleted"]  # a device that reconnected after the deletion never saw it
                else:
                    ok = seen is not None and not seen["deleted"] and (seen["read"] == truth["read"] or not inbox)
                diverged += 0 if ok else 1
            TELEMETRY.incr("devices_checked")
            TELEMETRY.incr("items_checked", len(self.model))
            if diverged:
                TELEMETRY.incr("devices_diverged")
                TELEMETRY.incr("items_diverged", diverged)
            device.hub.close(timeout=0.5)
        self.producer.close()


@suite.checks
def inbox_checks(environment, telemetry, verdict) -> None:
    verdict.check("users have an identity (JWT)", telemetry.count("inbox_no_identity") == 0, "the inbox soak needs --jwt-secret (TIDINGS_LOAD_JWT_SECRET): read state is per user" if telemetry.count("inbox_no_identity") else "every user connected with a JWT")
    expected, got = telemetry.count("inbox_delivery_expected"), telemetry.count("inbox_delivered")
    verdict.check("every device receives every notification", expected > 0 and got >= expected, f"{got} of {expected} deliveries")
    verdict.check("no duplicate live delivery", telemetry.count("inbox_live_duplicates") == 0, f"{telemetry.count('inbox_live_duplicates')} duplicates")
    leaks = telemetry.count("inbox_foreign_notifications") + telemetry.count("inbox_foreign_events")
    verdict.check("nothing from other users", leaks == 0, f"{telemetry.count('inbox_foreign_notifications')} notifications, {telemetry.count('inbox_foreign_events')} read-state events of other users")
    h = telemetry.histograms.get("inbox delivery")
    max_delivery = float(opt(environment, "max_delivery_p99_ms", 1000.0))
    if h and h.count:
        verdict.metrics["delivery_ms"] = h.summary()
        verdict.check(f"delivery p99 ≤ {max_delivery:g} ms", h.summary()["p99"] <= max_delivery, format_summary("inbox delivery", h.summary()))
    else:
        verdict.check(f"delivery p99 ≤ {max_delivery:g} ms", False, "no delivery")
    verdict.check("unexpected disconnects = 0", telemetry.count("unexpected_disconnects") == 0, f"{telemetry.count('unexpected_disconnects')} closed by the server")
    checked, diverged = telemetry.count("devices_checked"), telemetry.count("devices_diverged")
    verdict.check("devices hold every live notification at the end", checked > 0 and (diverged == 0 or _capable(INBOX)), f"{checked - diverged} of {checked} devices consistent ({telemetry.count('items_diverged')} of {telemetry.count('items_checked')} items differ)")

    def events_ok() -> tuple[bool, str]:
        e_exp, e_got = telemetry.count("inbox_events_expected"), telemetry.count("inbox_events_received")
        eh = telemetry.histograms.get("inbox events")
        text = f"{e_got} of {e_exp} read/delete events reached every device ({telemetry.count('inbox_unexpected_events')} unexpected)"
        ok = e_exp > 0 and e_got >= e_exp and telemetry.count("inbox_unexpected_events") == 0
        if eh and eh.count:
            verdict.metrics["event_ms"] = eh.summary()
            max_event = float(opt(environment, "max_event_p99_ms", 1000.0))
            ok = ok and eh.summary()["p99"] <= max_event
            text += f"; p99 ≤ {max_event:g} ms: " + format_summary("events", eh.summary())
        return ok, text

    def converged() -> tuple[bool, str]:
        return diverged == 0 and checked > 0, f"{checked - diverged} of {checked} devices converged to the user's read/deleted state ({telemetry.count('items_diverged')} items differ)"

    def replay_ok() -> tuple[bool, str]:
        missing, resurrected, wrong = telemetry.count("replay_missing"), telemetry.count("replay_deleted_returned"), telemetry.count("replay_read_mismatch")
        text = f"{telemetry.count('replay_checks')} device reconnects: {missing} missing of {telemetry.count('replay_expected')}, {resurrected} deleted ones replayed, {wrong} with a wrong isRead"
        if "replay:sample" in telemetry.notes:
            text += f"; e.g. {telemetry.notes['replay:sample']}"
        return telemetry.count("replay_checks") > 0 and missing == 0 and resurrected == 0 and wrong == 0, text

    verdict.gated(environment, INBOX, "MarkAsRead/MarkAsDeleted events reach every device", events_ok)
    verdict.gated(environment, INBOX, "every device converges to the user's state", converged)
    verdict.gated(environment, REPLAY, "replay after a device reconnect matches the inbox", replay_ok)

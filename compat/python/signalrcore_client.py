"""signalrcore (threaded client): the compat scenario over argv[1] transport and argv[2] protocol."""
import sys
import threading
from urllib.parse import quote

from signalrcore.hub_connection_builder import HubConnectionBuilder
from signalrcore.protocol.messagepack_protocol import MessagePackHubProtocol
from signalrcore.types import HttpTransportType

from scenario import FOREIGN_TENANT, GROUP, HUB_URL, IDS, TOKEN, TYPE, Scenario

transport, protocol = sys.argv[1], sys.argv[2]
s = Scenario()
# Its long polling sends the configured token on negotiate and POSTs but not on the poll GETs, which keep
# the hub URL's query: there the token also goes in `access_token`.
url = f"{HUB_URL}?access_token={quote(TOKEN)}" if transport == "LongPolling" else HUB_URL
builder = HubConnectionBuilder().with_url(url, options={
    "access_token_factory": lambda: TOKEN,
    "transport": HttpTransportType(transport),
})
if protocol == "messagepack":
    builder = builder.with_hub_protocol(MessagePackHubProtocol())
hub = builder.build()

opened = threading.Event()
completions = {}  # invocation id -> error text or None
done = threading.Condition()


def completed(invocation_id, error):
    with done:
        completions[invocation_id] = error
        done.notify_all()


def invoke(method, args, seconds=10):
    """The completion's error (None on success); raises TimeoutError without a completion."""
    result = hub.send(method, args, on_invocation=lambda m: completed(m.invocation_id, None))
    with done:
        if not done.wait_for(lambda: result.invocation_id in completions, seconds):
            raise TimeoutError(f"{method}: no completion")
        return completions[result.invocation_id]


hub.on_open(opened.set)
hub.on_error(lambda m: completed(getattr(m, "invocation_id", None), getattr(m, "error", str(m))))
hub.on(TYPE, s.on_notification)
hub.on("EventReadStatusChange", s.on_read)
try:
    hub.start()
    s.check("connect", opened.wait(10), "no handshake")
    s.wait_ids(["replay"], 5)
    try:
        error = invoke("Subscribe", [{"audienceType": 3, "audienceValue": GROUP}])
        s.check("subscribe", error is None, str(error))
    except Exception as e:  # noqa: BLE001 - reported in the matrix
        s.check("subscribe", False, str(e))
    try:
        error = invoke("Subscribe", [{"audienceType": 2, "audienceValue": FOREIGN_TENANT}])
        s.check("forbidden", error is not None and "HubException: Forbidden" in error, f"completion error {error!r}")
    except Exception as e:  # noqa: BLE001
        s.check("forbidden", False, str(e))
    s.ready()
    s.wait_ids(["global", "user", "group"])
    user = s.received.get(IDS["user"])
    if user is not None:
        try:
            error = invoke("MarkAsRead", [user["audienceId"], user["id"]])
            seen = s.wait(lambda: any(e.get("eventId") == user["id"] and e.get("isRead") for e in s.read_events), 5)
            s.check("markAsRead", error is None and seen, f"error {error!r}, EventReadStatusChange seen: {seen}")
        except Exception as e:  # noqa: BLE001
            s.check("markAsRead", False, str(e))
except Exception as e:  # noqa: BLE001
    s.check("connect", False, f"{type(e).__name__}: {e}")
finally:
    s.finish()
    try:
        hub.stop()
    except Exception:  # noqa: BLE001
        pass

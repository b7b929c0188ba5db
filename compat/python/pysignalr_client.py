"""pysignalr (asyncio client, WebSockets only): the compat scenario over argv[2] protocol."""
import asyncio
import sys

from pysignalr.client import SignalRClient
from pysignalr.protocol.json import JSONProtocol
from pysignalr.protocol.messagepack import MessagepackProtocol

from scenario import FOREIGN_TENANT, GROUP, HUB_URL, IDS, TOKEN, TYPE, Scenario

protocol = sys.argv[2]
s = Scenario()


async def scenario(client: SignalRClient, opened: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()

    async def invoke(method, args):
        """The completion's error (None on success)."""
        done = loop.create_future()
        await client.send(method, args, on_invocation=lambda m: _resolve(done, m))
        message = await asyncio.wait_for(done, 10)
        return message.error or None

    async def wait_ids(names, seconds):
        await asyncio.to_thread(s.wait_ids, names, seconds)

    try:
        await asyncio.wait_for(opened.wait(), 10)
        s.check("connect", True)
    except TimeoutError:
        s.check("connect", False, "no handshake")
        return
    await wait_ids(["replay"], 5)
    error = await invoke("Subscribe", [{"audienceType": 3, "audienceValue": GROUP}])
    s.check("subscribe", error is None, str(error))
    error = await invoke("Subscribe", [{"audienceType": 2, "audienceValue": FOREIGN_TENANT}])
    s.check("forbidden", error is not None and "HubException: Forbidden" in error, f"completion error {error!r}")
    s.ready()
    await wait_ids(["global", "user", "group"], 10)
    user = s.received.get(IDS["user"])
    if user is not None:
        error = await invoke("MarkAsRead", [user["audienceId"], user["id"]])
        seen = await asyncio.to_thread(s.wait, lambda: any(e.get("eventId") == user["id"] and e.get("isRead") for e in s.read_events), 5)
        s.check("markAsRead", error is None and seen, f"error {error!r}, EventReadStatusChange seen: {seen}")


async def _resolve(future, message):
    if not future.done():
        future.set_result(message)


async def main() -> None:
    # access_token_factory alone is applied only from the hub handshake on, after negotiate and the
    # upgrade went out without a token (refused with 401), so the token also goes in `headers`.
    client = SignalRClient(
        HUB_URL,
        protocol=MessagepackProtocol() if protocol == "messagepack" else JSONProtocol(),
        headers={"Authorization": f"Bearer {TOKEN}"},
        access_token_factory=lambda: TOKEN,
    )
    opened = asyncio.Event()

    async def on_open():
        opened.set()

    async def on_notification(args):
        s.on_notification(args)

    async def on_read(args):
        s.on_read(args)

    async def on_error(message):
        return None  # refused calls are read from their completion

    client.on_open(on_open)
    client.on(TYPE, on_notification)
    client.on("EventReadStatusChange", on_read)
    client.on_error(on_error)
    runner = asyncio.create_task(client.run())
    try:
        await asyncio.wait_for(scenario(client, opened), 45)
    except Exception as e:  # noqa: BLE001 - reported in the matrix
        s.check("connect" if "connect" not in s.result else "error", False, f"{type(e).__name__}: {e}")
        if runner.done() and runner.exception() is not None:
            s.check("connect", False, f"{type(runner.exception()).__name__}: {runner.exception()}")
    finally:
        s.finish()
        runner.cancel()


asyncio.run(main())

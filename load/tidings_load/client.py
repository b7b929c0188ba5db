"""A SignalR-over-WebSocket hub client for load generation, on ``websocket-client`` and gevent.

    client = HubClient("http://127.0.0.1:8080", token=jwt)        # token=None: anonymous
    timings = client.connect()                                     # negotiate → WebSocket → handshake
    client.on("invoice-ready", lambda args, received_at, size: ...)
    client.invoke("Subscribe", {"audienceType": 3, "audienceValue": "g1"})
    client.close()

One reader greenlet per connection parses frames (JSON 0x1E records or length-prefixed MessagePack)
and dispatches them; a second greenlet sends a hub Ping every ``ping_interval`` seconds. Everything
cooperates through gevent, so import this module after Locust (which monkey-patches the stdlib).
Receipt timestamps are taken right after ``recv`` returns, before any parsing, so a latency computed
from them is the producer→socket latency, not the load generator's parsing time.
"""

from __future__ import annotations

import itertools
import json
import socket
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, Callable

import gevent
import requests
import websocket
from gevent.event import AsyncResult, Event

from . import framing

Handler = Callable[[list, float, int], None]


class HubError(Exception):
    """Connecting to the hub failed. ``stage`` is negotiate, websocket or handshake; ``status`` the HTTP status if any."""

    def __init__(self, stage: str, message: str, status: int | None = None) -> None:
        super().__init__(f"{stage}: {message}")
        self.stage = stage
        self.status = status


class HubInvocationError(Exception):
    """A hub method answered with a Completion error (the HubException string of docs/contract.md §4)."""

    def __init__(self, target: str, error: str) -> None:
        super().__init__(error)
        self.target = target
        self.error = error

    @property
    def method_missing(self) -> bool:
        """The server does not have this hub method (docs/protocol.md §10: `Method does not exist.`)."""
        return "Method does not exist" in self.error

    def has_code(self, code: str) -> bool:
        return f"HubException: {code}" in self.error


class HubClosed(Exception):
    """The connection ended while an invocation was waiting."""


@dataclass
class ConnectTimings:
    negotiate_ms: float
    websocket_ms: float
    handshake_ms: float

    @property
    def total_ms(self) -> float:
        return self.negotiate_ms + self.websocket_ms + self.handshake_ms


def ws_url(http_url: str) -> str:
    parts = urllib.parse.urlsplit(http_url)
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}[parts.scheme]
    return urllib.parse.urlunsplit((scheme, parts.netloc, parts.path, parts.query, ""))


class HubClient:
    _ids = itertools.count(1)

    def __init__(
        self,
        base_url: str,
        *,
        hub_path: str = "/notifications",
        token: str | None = None,
        protocol: str = "json",
        skip_negotiation: bool = False,
        timeout: float = 10.0,
        ping_interval: float = 15.0,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.hub_path = hub_path
        self.token = token
        self.protocol = protocol
        self.skip_negotiation = skip_negotiation
        self.timeout = timeout
        self.ping_interval = ping_interval
        self._session = session
        self._encode, reader_factory, opcode = framing.encoder_for(protocol)
        self._reader = reader_factory()
        self._opcode = websocket.ABNF.OPCODE_TEXT if opcode == "text" else websocket.ABNF.OPCODE_BINARY
        self._ws: websocket.WebSocket | None = None
        self._handlers: dict[str, list[Handler]] = {}
        self._any_handlers: list[Callable[[dict, float, int], None]] = []
        self._close_handlers: list[Callable[["HubClient"], None]] = []
        self._pending: dict[str, tuple[str, AsyncResult]] = {}
        self._invocation_ids = itertools.count(1)
        self._greenlets: list[gevent.Greenlet] = []
        self.closed = Event()
        self.connection_id: str | None = None
        self.close_error: str | None = None  # error of the server's Close message or of the socket
        self.allow_reconnect: bool | None = None
        self.closed_by_client = False
        self.name = f"hub-{next(self._ids)}"

    # ------------------------------------------------------------------ handlers
    def on(self, target: str, handler: Handler) -> None:
        """``handler(arguments, received_at_epoch_s, frame_bytes)`` for server invocations of ``target`` (case-insensitive)."""
        self._handlers.setdefault(target.lower(), []).append(handler)

    def on_any(self, handler: Callable[[dict, float, int], None]) -> None:
        self._any_handlers.append(handler)

    def on_close(self, handler: Callable[["HubClient"], None]) -> None:
        self._close_handlers.append(handler)

    # ------------------------------------------------------------------ connect
    def _auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"} if self.token else {}

    def _negotiate(self) -> str:
        url = f"{self.base_url}{self.hub_path}/negotiate?negotiateVersion=1"
        post = (self._session or requests).post
        try:
            response = post(url, headers=self._auth_headers(), timeout=self.timeout)
        except requests.RequestException as exc:
            raise HubError("negotiate", str(exc)) from exc
        if response.status_code != 200:
            raise HubError("negotiate", f"HTTP {response.status_code} {response.text[:200]!r}", response.status_code)
        try:
            body = response.json()
        except ValueError as exc:
            raise HubError("negotiate", "response is not JSON") from exc
        if "error" in body:
            raise HubError("negotiate", str(body["error"]))
        if not any(t.get("transport") == "WebSockets" for t in body.get("availableTransports", [])):
            raise HubError("negotiate", "server does not offer WebSockets")
        self.connection_id = body.get("connectionId")
        return body.get("connectionToken") or body["connectionId"]

    def connect(self) -> ConnectTimings:
        """Negotiate (unless skipped), open the WebSocket, do the handshake, start reading and pinging."""
        t0 = time.perf_counter()
        query: dict[str, str] = {}
        if not self.skip_negotiation:
            query["id"] = self._negotiate()
        t1 = time.perf_counter()
        if self.token:
            query["access_token"] = self.token
        url = ws_url(self.base_url + self.hub_path) + ("?" + urllib.parse.urlencode(query) if query else "")
        try:
            self._ws = websocket.create_connection(url, timeout=self.timeout, enable_multithread=True, skip_utf8_validation=True)
        except websocket.WebSocketBadStatusException as exc:
            raise HubError("websocket", f"HTTP {exc.status_code}", exc.status_code) from exc
        except (OSError, websocket.WebSocketException) as exc:
            raise HubError("websocket", f"{type(exc).__name__}: {exc}") from exc
        t2 = time.perf_counter()
        try:
            self._ws.send(framing.handshake_request(self.protocol))
            first = self._ws.recv()
            response, rest = framing.parse_handshake_response(first)
        except (OSError, websocket.WebSocketException, framing.FramingError) as exc:
            self._abort()
            raise HubError("handshake", f"{type(exc).__name__}: {exc}") from exc
        if response.get("error"):
            self._abort()
            raise HubError("handshake", str(response["error"]))
        t3 = time.perf_counter()
        self._ws.settimeout(None)
        if rest:
            self._dispatch(self._reader.feed(rest), time.time(), len(rest))
        self._greenlets = [gevent.spawn(self._read_loop), gevent.spawn(self._ping_loop)]
        return ConnectTimings((t1 - t0) * 1000, (t2 - t1) * 1000, (t3 - t2) * 1000)

    def _abort(self) -> None:
        try:
            if self._ws is not None:
                self._ws.close(timeout=0.2)
        except Exception:
            pass

    # ------------------------------------------------------------------ reading
    def _read_loop(self) -> None:
        ws = self._ws
        assert ws is not None
        try:
            while True:
                try:
                    data = ws.recv()
                except websocket.WebSocketConnectionClosedException:
                    self._finish(self.close_error or "connection closed")
                    return
                except (OSError, websocket.WebSocketException) as exc:
                    self._finish(self.close_error or f"{type(exc).__name__}: {exc}")
                    return
                received_at = time.time()
                if data is None or data == "" or data == b"":
                    # websocket-client returns '' for a close frame
                    if not ws.connected:
                        self._finish(self.close_error or "connection closed")
                        return
                    continue
                try:
                    messages = self._reader.feed(data)
                except framing.FramingError as exc:
                    self._finish(f"framing error: {exc}")
                    self._abort()
                    return
                self._dispatch(messages, received_at, len(data))
        except gevent.GreenletExit:
            self._finish(self.close_error or "reader stopped")
            raise

    def _dispatch(self, messages: list[dict], received_at: float, size: int) -> None:
        for message in messages:
            kind = message.get("type")
            for handler in self._any_handlers:
                handler(message, received_at, size)
            if kind == framing.INVOCATION:
                for handler in self._handlers.get(str(message.get("target", "")).lower(), ()):
                    handler(message.get("arguments") or [], received_at, size)
            elif kind == framing.COMPLETION:
                pending = self._pending.pop(str(message.get("invocationId")), None)
                if pending is not None:
                    pending[1].set(message)
            elif kind == framing.CLOSE:
                self.close_error = message.get("error") or "server closed the connection"
                self.allow_reconnect = bool(message.get("allowReconnect", False))

    def _finish(self, reason: str) -> None:
        if self.closed.is_set():
            return
        if self.close_error is None:
            self.close_error = reason
        self.closed.set()
        for _, result in list(self._pending.values()):
            result.set_exception(HubClosed(reason))
        self._pending.clear()
        for handler in self._close_handlers:
            try:
                handler(self)
            except Exception:  # a handler must not break the reader
                pass

    def _ping_loop(self) -> None:
        # @microsoft/signalr sends a Ping right after the handshake, then whenever it was quiet for 15 s.
        while not self.closed.is_set():
            try:
                self.send_message(framing.PING_MESSAGE)
            except Exception:
                return
            if self.closed.wait(self.ping_interval):
                return

    # ------------------------------------------------------------------ sending
    def send_message(self, message: dict[str, Any]) -> None:
        if self._ws is None or self.closed.is_set():
            raise HubClosed(self.close_error or "not connected")
        payload = self._encode(message)
        try:
            self._ws.send(payload, opcode=self._opcode)
        except (OSError, websocket.WebSocketException) as exc:
            self._finish(f"send failed: {exc}")
            raise HubClosed(str(exc)) from exc

    def send(self, target: str, *arguments: Any) -> None:
        """Invocation without an invocationId: the server never answers it."""
        self.send_message(framing.invocation(target, arguments))

    def invoke_async(self, target: str, *arguments: Any) -> AsyncResult:
        invocation_id = str(next(self._invocation_ids))
        result = AsyncResult()
        self._pending[invocation_id] = (target, result)
        try:
            self.send_message(framing.invocation(target, arguments, invocation_id))
        except HubClosed as exc:
            self._pending.pop(invocation_id, None)
            result.set_exception(exc)
        return result

    def invoke(self, target: str, *arguments: Any, timeout: float | None = None) -> Any:
        """Calls a hub method and waits for its Completion; raises HubInvocationError on a Completion error."""
        completion = self.invoke_async(target, *arguments).get(timeout=timeout or self.timeout)
        if completion.get("error") is not None:
            raise HubInvocationError(target, str(completion["error"]))
        return completion.get("result")

    # ------------------------------------------------------------------ closing
    def close(self, timeout: float = 1.0) -> None:
        """Graceful end: a WebSocket close frame (what @microsoft/signalr's stop() does)."""
        self.closed_by_client = True
        if self._ws is not None and not self.closed.is_set():
            try:
                self._ws.close(timeout=timeout)
            except Exception:
                pass
        self._finish("closed by client")
        self._stop_greenlets()

    def drop(self) -> None:
        """Ungraceful end, as a lost network: shut the TCP socket down without a close frame."""
        self.closed_by_client = True
        sock = getattr(self._ws, "sock", None)
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            try:
                sock.close()
            except OSError:
                pass
        self._finish("dropped by client")
        self._stop_greenlets()

    def _stop_greenlets(self) -> None:
        current = gevent.getcurrent()
        for g in self._greenlets:
            if g is not current:
                g.kill(block=False)

    @property
    def connected(self) -> bool:
        return self._ws is not None and not self.closed.is_set()


def notification_args(arguments: list) -> dict[str, Any] | None:
    """The delivered notification (first argument of a notification invocation) or None."""
    if arguments and isinstance(arguments[0], dict):
        return arguments[0]
    return None


def body_of(notification: dict[str, Any]) -> Any:
    body = notification.get("body")
    if isinstance(body, str):  # a producer may send the body as a JSON string
        try:
            return json.loads(body)
        except ValueError:
            return body
    return body

"""SignalR hub-protocol framing: the JSON handshake, JSON records (0x1E) and MessagePack
(varint length prefix + array), normalised to the JSON message shape.

Pure functions, no I/O, so they are unit-tested without a server (tests/test_framing.py).
The wire format is the ASP.NET Core SignalR Hub Protocol (see docs/protocol.md §4).
"""

from __future__ import annotations

import json
from typing import Any, Iterable

RS = "\x1e"
RS_BYTE = b"\x1e"

# Hub message types (docs/protocol.md §4.4)
INVOCATION = 1
STREAM_ITEM = 2
COMPLETION = 3
STREAM_INVOCATION = 4
CANCEL_INVOCATION = 5
PING = 6
CLOSE = 7
ACK = 8
SEQUENCE = 9

PROTOCOLS = ("json", "messagepack")


class FramingError(ValueError):
    """Bytes that are not a valid hub message in the chosen protocol."""


def handshake_request(protocol: str = "json", version: int = 1) -> str:
    """The handshake record the client sends first, for both protocols (always JSON text)."""
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown hub protocol {protocol!r}")
    return json.dumps({"protocol": protocol, "version": version}, separators=(",", ":")) + RS


def parse_handshake_response(data: str | bytes) -> tuple[dict[str, Any], bytes]:
    """Splits the server's first message into the handshake response and any bytes after it.

    Raises FramingError when no complete record is present or it is not a JSON object.
    The caller checks ``response.get("error")``.
    """
    raw = data.encode("utf-8") if isinstance(data, str) else bytes(data)
    end = raw.find(RS_BYTE)
    if end < 0:
        raise FramingError("incomplete handshake response (no record separator)")
    try:
        response = json.loads(raw[:end].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FramingError(f"handshake response is not JSON: {exc}") from exc
    if not isinstance(response, dict):
        raise FramingError("handshake response is not a JSON object")
    return response, raw[end + 1 :]


# --------------------------------------------------------------------------- JSON

def encode_json(message: dict[str, Any]) -> str:
    """One hub message as a JSON record (compact, terminated by 0x1E)."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False) + RS


class JsonRecordReader:
    """Incremental 0x1E splitter: feed WebSocket text/binary payloads, get complete messages.

    A record may be split across frames and one frame may carry several records.
    """

    def __init__(self) -> None:
        self._buffer = ""

    def feed(self, data: str | bytes) -> list[dict[str, Any]]:
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data).decode("utf-8")
        self._buffer += data
        if RS not in self._buffer:
            return []
        *records, self._buffer = self._buffer.split(RS)
        out = []
        for record in records:
            if record == "":
                raise FramingError("empty JSON record")
            try:
                message = json.loads(record)
            except json.JSONDecodeError as exc:
                raise FramingError(f"invalid JSON record: {exc}") from exc
            if not isinstance(message, dict) or not isinstance(message.get("type"), int):
                raise FramingError("JSON record without an integer 'type'")
            out.append(message)
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)


def parse_json_records(data: str | bytes) -> list[dict[str, Any]]:
    """All complete records in ``data`` (a trailing partial record is an error)."""
    reader = JsonRecordReader()
    messages = reader.feed(data)
    if reader.pending:
        raise FramingError("trailing bytes after the last record separator")
    return messages


# --------------------------------------------------------------------------- MessagePack

def encode_varint(value: int) -> bytes:
    """SignalR length prefix: 7 bits per byte, least significant group first (1-5 bytes)."""
    if value <= 0 or value > 0x7FFFFFFF:
        raise ValueError(f"length prefix out of range: {value}")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode_varint(data: bytes, offset: int = 0) -> tuple[int, int] | None:
    """(value, bytes used) or None when the prefix is incomplete. Raises FramingError when invalid."""
    value = 0
    for i in range(5):
        if offset + i >= len(data):
            return None
        byte = data[offset + i]
        if i == 4 and byte > 0x07:
            raise FramingError("length prefix above 2^31-1")
        value |= (byte & 0x7F) << (7 * i)
        if not byte & 0x80:
            if value == 0:
                raise FramingError("zero length prefix")
            return value, i + 1
    raise FramingError("length prefix longer than 5 bytes")


def _msgpack():
    try:
        import msgpack  # noqa: PLC0415 - optional dependency
    except ImportError as exc:  # pragma: no cover - msgpack is pinned in pyproject
        raise RuntimeError("the messagepack protocol needs the 'msgpack' package") from exc
    return msgpack


def to_msgpack_array(message: dict[str, Any]) -> list[Any]:
    """Client→server messages in their MessagePack array form (docs/protocol.md §4.4)."""
    kind = message["type"]
    headers = message.get("headers") or {}
    if kind == INVOCATION:
        return [INVOCATION, headers, message.get("invocationId"), message["target"], list(message.get("arguments", [])), list(message.get("streamIds", []))]
    if kind == PING:
        return [PING]
    if kind == CLOSE:
        return [CLOSE, message.get("error"), bool(message.get("allowReconnect", False))]
    if kind == COMPLETION:
        if "error" in message and message["error"] is not None:
            return [COMPLETION, headers, message["invocationId"], 1, message["error"]]
        if "result" in message:
            return [COMPLETION, headers, message["invocationId"], 3, message["result"]]
        return [COMPLETION, headers, message["invocationId"], 2]
    if kind == CANCEL_INVOCATION:
        return [CANCEL_INVOCATION, headers, message["invocationId"]]
    if kind in (ACK, SEQUENCE):
        return [kind, message["sequenceId"]]
    raise ValueError(f"cannot encode message type {kind} as MessagePack")


def from_msgpack_array(item: Any) -> dict[str, Any]:
    """A decoded MessagePack hub message normalised to the JSON message shape."""
    if not isinstance(item, (list, tuple)) or not item or not isinstance(item[0], int):
        raise FramingError("MessagePack hub message is not an array starting with the type")
    kind = item[0]
    try:
        if kind in (INVOCATION, STREAM_INVOCATION):
            out: dict[str, Any] = {"type": kind, "target": item[3], "arguments": list(item[4])}
            if item[2] not in (None, ""):
                out["invocationId"] = item[2]
            if len(item) > 5 and item[5]:
                out["streamIds"] = list(item[5])
            return out
        if kind == STREAM_ITEM:
            return {"type": kind, "invocationId": item[2], "item": item[3]}
        if kind == COMPLETION:
            out = {"type": kind, "invocationId": item[2]}
            result_kind = item[3]
            if result_kind == 1:
                out["error"] = item[4]
            elif result_kind == 3:
                out["result"] = item[4]
            return out
        if kind == CANCEL_INVOCATION:
            return {"type": kind, "invocationId": item[2]}
        if kind == PING:
            return {"type": kind}
        if kind == CLOSE:
            out = {"type": kind}
            if len(item) > 1 and item[1] is not None:
                out["error"] = item[1]
            if len(item) > 2:
                out["allowReconnect"] = bool(item[2])
            return out
        if kind in (ACK, SEQUENCE):
            return {"type": kind, "sequenceId": item[1]}
    except (IndexError, TypeError) as exc:
        raise FramingError(f"malformed MessagePack message of type {kind}: {exc}") from exc
    return {"type": kind}  # unknown types are ignored by the caller (forward compatibility)


def encode_msgpack(message: dict[str, Any]) -> bytes:
    body = _msgpack().packb(to_msgpack_array(message), use_bin_type=True)
    return encode_varint(len(body)) + body


class MsgpackReader:
    """Incremental length-prefixed MessagePack splitter."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes | str) -> list[dict[str, Any]]:
        if isinstance(data, str):
            data = data.encode("utf-8")
        self._buffer += bytes(data)
        out = []
        msgpack = _msgpack()
        while self._buffer:
            prefix = decode_varint(self._buffer)
            if prefix is None:
                break
            length, used = prefix
            if len(self._buffer) < used + length:
                break
            body = self._buffer[used : used + length]
            self._buffer = self._buffer[used + length :]
            try:
                item = msgpack.unpackb(body, raw=False, strict_map_key=False)
            except Exception as exc:  # msgpack raises several types
                raise FramingError(f"invalid MessagePack: {exc}") from exc
            out.append(from_msgpack_array(item))
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)


def parse_msgpack_messages(data: bytes) -> list[dict[str, Any]]:
    reader = MsgpackReader()
    messages = reader.feed(data)
    if reader.pending:
        raise FramingError("trailing bytes after the last MessagePack message")
    return messages


# --------------------------------------------------------------------------- helpers

def invocation(target: str, arguments: Iterable[Any], invocation_id: str | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"type": INVOCATION, "target": target, "arguments": list(arguments)}
    if invocation_id is not None:
        message["invocationId"] = invocation_id
    return message


PING_MESSAGE: dict[str, Any] = {"type": PING}


def encoder_for(protocol: str):
    """(encode(message) -> str|bytes, reader factory, websocket opcode name) for a hub protocol."""
    if protocol == "json":
        return encode_json, JsonRecordReader, "text"
    if protocol == "messagepack":
        return encode_msgpack, MsgpackReader, "binary"
    raise ValueError(f"unknown hub protocol {protocol!r}")

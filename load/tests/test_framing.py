import msgpack
import pytest

from tidings_load import framing


def test_handshake_request_is_json_record():
    assert framing.handshake_request() == '{"protocol":"json","version":1}\x1e'
    assert framing.handshake_request("messagepack") == '{"protocol":"messagepack","version":1}\x1e'
    with pytest.raises(ValueError):
        framing.handshake_request("xml")


def test_handshake_response_split_from_following_bytes():
    response, rest = framing.parse_handshake_response("{}\x1e{\"type\":6}\x1e")
    assert response == {}
    assert rest == b'{"type":6}\x1e'
    response, _ = framing.parse_handshake_response(b'{"error":"The protocol \'foo\' is not supported."}\x1e')
    assert "not supported" in response["error"]
    with pytest.raises(framing.FramingError):
        framing.parse_handshake_response("{}")


def test_json_records_split_across_frames_and_several_per_frame():
    reader = framing.JsonRecordReader()
    assert reader.feed('{"type":1,"target":"a","argu') == []
    out = reader.feed('ments":[{"id":"x"}]}\x1e{"type":6}\x1e{"type":3,"invoc')
    assert [m["type"] for m in out] == [1, 6]
    assert out[0]["arguments"] == [{"id": "x"}]
    assert reader.feed(b'ationId":"1"}\x1e') == [{"type": 3, "invocationId": "1"}]
    assert reader.pending == 0


def test_json_encode_is_compact_and_terminated():
    assert framing.encode_json(framing.PING_MESSAGE) == '{"type":6}\x1e'
    msg = framing.invocation("Subscribe", [{"audienceType": 3, "audienceValue": "g1"}], "1")
    assert framing.parse_json_records(framing.encode_json(msg)) == [msg]


@pytest.mark.parametrize("bad", ["\x1e", "not json\x1e", '{"target":"x"}\x1e', "[1]\x1e"])
def test_json_invalid_records_raise(bad):
    with pytest.raises(framing.FramingError):
        framing.JsonRecordReader().feed(bad)


@pytest.mark.parametrize("value,encoded", [(53, b"\x35"), (200, b"\xc8\x01"), (5248, b"\x80\x29"), (2**31 - 1, b"\xff\xff\xff\xff\x07")])
def test_varint_examples_from_the_wire_spec(value, encoded):
    assert framing.encode_varint(value) == encoded
    assert framing.decode_varint(encoded) == (value, len(encoded))


def test_varint_incomplete_and_invalid():
    assert framing.decode_varint(b"\x80") is None
    with pytest.raises(framing.FramingError):
        framing.decode_varint(b"\xff\xff\xff\xff\x08")
    with pytest.raises(framing.FramingError):
        framing.decode_varint(b"\x00")


def test_msgpack_ping_is_the_spec_bytes():
    assert framing.encode_msgpack(framing.PING_MESSAGE) == bytes.fromhex("029106")


def test_msgpack_roundtrip_of_server_messages_and_partial_frames():
    invocation = msgpack.packb([1, {}, None, "invoice-ready", [{"id": "n1", "isRead": False}]])
    completion_error = msgpack.packb([3, {}, "7", 1, "HubException: Forbidden: no"])
    completion_void = msgpack.packb([3, {}, "8", 2])
    close = msgpack.packb([7, "Slow consumer", True])
    data = b"".join(framing.encode_varint(len(p)) + p for p in (invocation, completion_error, completion_void, close))
    reader = framing.MsgpackReader()
    out = reader.feed(data[:5]) + reader.feed(data[5:])
    assert out == [
        {"type": 1, "target": "invoice-ready", "arguments": [{"id": "n1", "isRead": False}]},
        {"type": 3, "invocationId": "7", "error": "HubException: Forbidden: no"},
        {"type": 3, "invocationId": "8"},
        {"type": 7, "error": "Slow consumer", "allowReconnect": True},
    ]


def test_msgpack_client_invocation_layout():
    data = framing.encode_msgpack(framing.invocation("MarkAsRead", ["user:u1", "n1"], "3"))
    length, used = framing.decode_varint(data)
    assert msgpack.unpackb(data[used:]) == [1, {}, "3", "MarkAsRead", ["user:u1", "n1"], []]
    assert len(data) == used + length

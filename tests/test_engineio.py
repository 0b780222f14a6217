"""Engine.IO codec: expectations written by hand from protocol-facts §1."""

from __future__ import annotations

import base64
import contextlib
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.engineio import (
    EioPacket,
    EioPacketType,
    decode_polling_body,
    decode_ws_message,
    is_engineio_request,
    parse_error_response,
    parse_handshake,
    parse_query,
)
from analyzer.errors import DecodeError, SioscopeError

T = EioPacketType


def text(kind: EioPacketType, data: str = "") -> EioPacket:
    return EioPacket(kind, data, False)


def binary(kind: EioPacketType, data: bytes) -> EioPacket:
    return EioPacket(kind, data, True)


# ---------------------------------------------------------------- test-only encoders


def encode_v4_payload(packets: list[EioPacket]) -> bytes:
    records = []
    for p in packets:
        if p.binary:
            assert isinstance(p.data, bytes)
            records.append("b" + base64.b64encode(p.data).decode())
        else:
            records.append(f"{int(p.type)}{p.data!s}")
    return "\x1e".join(records).encode()


def utf16_len(s: str) -> int:
    return len(s.encode("utf-16-le")) // 2


def encode_v3_text_payload(packets: list[EioPacket]) -> bytes:
    parts = []
    for p in packets:
        if p.binary:
            assert isinstance(p.data, bytes)
            body = f"b{int(p.type)}" + base64.b64encode(p.data).decode()
        else:
            body = f"{int(p.type)}{p.data!s}"
        parts.append(f"{utf16_len(body)}:{body}")
    return "".join(parts).encode() if parts else b"0:"


def encode_v3_binary_payload(packets: list[EioPacket]) -> bytes:
    out = bytearray()
    for p in packets:
        if p.binary:
            assert isinstance(p.data, bytes)
            chunk, marker = bytes([int(p.type)]) + p.data, 1
        else:
            chunk, marker = f"{int(p.type)}{p.data!s}".encode(), 0
        out += bytes([marker, *(int(d) for d in str(len(chunk))), 0xFF]) + chunk
    return bytes(out)


# ---------------------------------------------------------------- websocket frames


@pytest.mark.parametrize(
    ("payload", "is_binary", "eio", "expected"),
    [
        (b"4hello", False, 4, text(T.MESSAGE, "hello")),
        (b"2", False, 4, text(T.PING)),
        (b"3probe", False, 3, text(T.PONG, "probe")),
        (b"5", False, 4, text(T.UPGRADE)),
        (b"\x01\x02", True, 4, binary(T.MESSAGE, b"\x01\x02")),
        (b"\x04\x01\x02", True, 3, binary(T.MESSAGE, b"\x01\x02")),
        (b"bAQIDBA==", False, 4, binary(T.MESSAGE, b"\x01\x02\x03\x04")),
        (b"b4AQIDBA==", False, 3, binary(T.MESSAGE, b"\x01\x02\x03\x04")),
        ("4€".encode(), False, 4, text(T.MESSAGE, "€")),
    ],
)
def test_decode_ws_message(payload: bytes, is_binary: bool, eio: int, expected: EioPacket) -> None:
    assert decode_ws_message(payload, is_binary, eio) == expected


@pytest.mark.parametrize(
    ("payload", "is_binary", "eio"),
    [(b"", False, 4), (b"9", False, 4), (b"x", False, 3), (b"\xff4", False, 4), (b"\x09", True, 3)],
)
def test_decode_ws_message_rejects(payload: bytes, is_binary: bool, eio: int) -> None:
    with pytest.raises(DecodeError):
        decode_ws_message(payload, is_binary, eio)


# ---------------------------------------------------------------- polling payloads


def test_v4_payload_with_separator_and_base64() -> None:
    result = decode_polling_body(b"4hello\x1e2\x1ebAQIDBA==", 4, "text/plain")
    assert result.error is None
    assert result.packets == (
        text(T.MESSAGE, "hello"),
        text(T.PING),
        binary(T.MESSAGE, b"\x01\x02\x03\x04"),
    )


def test_v4_payload_stops_at_first_bad_record() -> None:
    result = decode_polling_body(b"4a\x1e9zz\x1e4b", 4, None)
    assert result.packets == (text(T.MESSAGE, "a"),)
    assert result.error is not None and "record 1" in result.error


def test_v3_text_lengths_are_utf16_units() -> None:
    result = decode_polling_body("6:4hello2:4€".encode(), 3, None)
    assert result.error is None
    assert result.packets == (text(T.MESSAGE, "hello"), text(T.MESSAGE, "€"))
    # a non-BMP char is two UTF-16 units: "4😀" has length 3 for JS
    emoji = decode_polling_body("3:4😀1:2".encode(), 3, None)
    assert emoji.error is None
    assert emoji.packets == (text(T.MESSAGE, "😀"), text(T.PING))


def test_v3_text_accepts_python_engineio_byte_lengths() -> None:
    # python-engineio 3 wrote UTF-8 byte lengths: "4é" = 3 bytes
    result = decode_polling_body("3:4é1:3".encode(), 3, None)
    assert result.packets == (text(T.MESSAGE, "é"), text(T.PONG))


def test_v3_open_and_connect_in_one_payload() -> None:
    open_packet = '0{"sid":"abc","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":5000}'
    body = f"{len(open_packet)}:{open_packet}2:40"
    result = decode_polling_body(body.encode(), 3, None)
    assert result.error is None
    assert [p.type for p in result.packets] == [T.OPEN, T.MESSAGE]
    assert result.packets[1].data == "0"


def test_v3_base64_binary_packet_in_text_payload() -> None:
    result = decode_polling_body(b"10:b4AQIDBA==", 3, None)
    assert result.packets == (binary(T.MESSAGE, b"\x01\x02\x03\x04"),)


def test_v3_empty_payload_and_errors() -> None:
    assert decode_polling_body(b"0:", 3, None) == decode_polling_body(b"0:", 3, "text/plain")
    assert decode_polling_body(b"0:", 3, None).packets == ()
    assert decode_polling_body(b"0:", 3, None).error is None
    assert decode_polling_body(b"", 3, None).error == "empty payload"
    past_end = decode_polling_body(b"2:4a99:4b", 3, None)
    assert past_end.packets == (text(T.MESSAGE, "a"),)
    assert past_end.error is not None and "99" in past_end.error
    assert decode_polling_body(b"abc", 3, None).error is not None


def test_v3_binary_xhr2_payload() -> None:
    body = bytes.fromhex("0004ff34e282ac0105ff0401020304")
    result = decode_polling_body(body, 3, "application/octet-stream")
    assert result.error is None
    assert result.packets == (text(T.MESSAGE, "€"), binary(T.MESSAGE, b"\x01\x02\x03\x04"))
    truncated = decode_polling_body(body[:-2], 3, "application/octet-stream")
    assert truncated.packets == (text(T.MESSAGE, "€"),)
    assert truncated.error is not None


def test_v3_jsonp_response_and_form_post() -> None:
    response = decode_polling_body(b'___eio[2]("6:4hello1:6");', 3, "text/javascript")
    assert response.packets == (text(T.MESSAGE, "hello"), text(T.NOOP))
    post = decode_polling_body(b"d=4%3A4a%5Cnb", 3, "application/x-www-form-urlencoded")
    assert post.error is None
    assert post.packets == (text(T.MESSAGE, "a\nb"),)


# ---------------------------------------------------------------- query, handshake, errors


def test_parse_query_full_url_and_target() -> None:
    q = parse_query("wss://example.com:8443/socket.io/?EIO=4&transport=websocket&sid=S1")
    assert (q.path, q.eio, q.transport, q.sid, q.b64, q.jsonp) == (
        "/socket.io/",
        4,
        "websocket",
        "S1",
        False,
        None,
    )
    q3 = parse_query("/custom/?EIO=3&transport=polling&t=N1a&b64=1&j=0&token=a%20b")
    assert (q3.eio, q3.b64, q3.jsonp, q3.get("token")) == (3, True, "0", "a b")
    assert is_engineio_request(q) and is_engineio_request(q3)
    assert not is_engineio_request(parse_query("/socket.io/socket.io.js"))
    assert parse_query("http://h?EIO=x").eio is None


def test_parse_handshake_v4_and_v3() -> None:
    data = '{"sid":"lv_VI97HAXpY6yYWAAAC","upgrades":["websocket"],"pingInterval":25000,'
    data += '"pingTimeout":20000,"maxPayload":1000000}'
    hs = parse_handshake(text(T.OPEN, data))
    assert hs.sid == "lv_VI97HAXpY6yYWAAAC"
    assert hs.upgrades == ("websocket",)
    assert (hs.ping_interval_ms, hs.ping_timeout_ms, hs.max_payload) == (25000, 20000, 1000000)
    v3 = parse_handshake(text(T.OPEN, '{"sid":"x","upgrades":[],"pingInterval":1,"pingTimeout":2}'))
    assert v3.max_payload is None and v3.upgrades == ()


@pytest.mark.parametrize("data", ["", "{", "[]", '{"upgrades":[]}', '{"sid":5}', "[" * 100000])
def test_parse_handshake_rejects(data: str) -> None:
    with pytest.raises(DecodeError):
        parse_handshake(text(T.OPEN, data))


def test_parse_handshake_requires_open() -> None:
    with pytest.raises(DecodeError):
        parse_handshake(text(T.MESSAGE, '{"sid":"x"}'))


@pytest.mark.parametrize(
    ("status", "body", "ctype", "code", "message", "style"),
    [
        (400, b'{"code":1,"message":"Session ID unknown"}', "application/json", 1,
         "Session ID unknown", "engineio-json"),
        (403, b'{"code":4,"message":"Forbidden"}', "application/json", 4, "Forbidden",
         "engineio-json"),
        (400, b"Session ID unknown", "text/html", 1, "Session ID unknown", "text"),
        (400, b'"Invalid session abc"', "application/json", None, "Invalid session abc",
         "python-string"),
        (401, b'"Unauthorized"', "application/json", None, "Unauthorized", "python-string"),
        (413, b"<html><head><title>413 Request Entity Too Large</title></head><body>"
         b"<center><h1>413 Request Entity Too Large</h1></center><hr><center>nginx</center>"
         b"</body></html>", "text/html", None, "413 Request Entity Too Large", "proxy"),
        (502, b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html", None,
         "502 Bad Gateway", "proxy"),
        (413, b"", None, None, "", "text"),
    ],
)  # fmt: skip
def test_parse_error_response(
    status: int, body: bytes, ctype: str, code: int | None, message: str, style: str
) -> None:
    err = parse_error_response(status, body, ctype)
    assert err is not None
    assert (err.status, err.code, err.message, err.style) == (status, code, message, style)


def test_parse_error_response_ignores_success() -> None:
    assert parse_error_response(200, b"ok", "text/html") is None


# ---------------------------------------------------------------- properties


text_data = st.text(max_size=30).filter(lambda s: "\x1e" not in s)
v4_packets = st.lists(
    st.one_of(
        st.builds(text, st.sampled_from(list(T)), text_data),
        st.builds(binary, st.just(T.MESSAGE), st.binary(max_size=20)),
    ),
    min_size=1,
    max_size=6,
)
v3_packets = st.lists(
    st.one_of(
        st.builds(text, st.sampled_from(list(T)), st.text(max_size=30)),
        st.builds(binary, st.sampled_from(list(T)), st.binary(max_size=20)),
    ),
    max_size=6,
)


@settings(max_examples=150)
@given(v4_packets)
def test_v4_round_trip(packets: list[EioPacket]) -> None:
    result = decode_polling_body(encode_v4_payload(packets), 4, None)
    assert result.error is None
    assert list(result.packets) == packets


@settings(max_examples=150)
@given(v3_packets)
def test_v3_text_round_trip(packets: list[EioPacket]) -> None:
    result = decode_polling_body(encode_v3_text_payload(packets), 3, None)
    assert result.error is None
    assert list(result.packets) == packets


@settings(max_examples=150)
@given(v3_packets.filter(bool))
def test_v3_binary_round_trip(packets: list[EioPacket]) -> None:
    body = encode_v3_binary_payload(packets)
    result = decode_polling_body(body, 3, "application/octet-stream")
    assert result.error is None
    assert list(result.packets) == packets


@settings(max_examples=200)
@given(st.binary(max_size=200), st.sampled_from([3, 4]), st.sampled_from([None, "text/plain",
       "application/octet-stream", "application/x-www-form-urlencoded"]))  # fmt: skip
def test_polling_body_never_raises(body: bytes, eio: int, ctype: str | None) -> None:
    result = decode_polling_body(body, eio, ctype)
    assert result.error is None or isinstance(result.error, str)


@settings(max_examples=200)
@given(st.binary(max_size=100), st.booleans(), st.sampled_from([3, 4]))
def test_ws_message_raises_only_decode_error(payload: bytes, is_binary: bool, eio: int) -> None:
    with contextlib.suppress(SioscopeError):
        decode_ws_message(payload, is_binary, eio)


@settings(max_examples=200)
@given(st.text(max_size=200), st.integers(0, 600), st.binary(max_size=200))
def test_other_parsers_raise_only_sioscope_errors(s: str, status: int, body: bytes) -> None:
    parse_query(s)
    parse_error_response(status, body, s)
    with contextlib.suppress(SioscopeError):
        parse_handshake(text(T.OPEN, s))


@given(st.text(alphabet="ab=&%+2x#?/;é", max_size=16))
def test_query_params_match_parse_qsl(query: str) -> None:
    """The fast split gives exactly what urllib gives, with or without escapes."""
    assert parse_query("/socket.io/?" + query.replace("#", "")).params == tuple(
        parse_qsl(query.replace("#", ""), keep_blank_values=True)
    )


def test_packet_types_by_char_and_byte() -> None:
    assert decode_ws_message(b"6", False, 4) == text(T.NOOP)
    assert decode_ws_message(b"\x03probe", True, 3) == binary(T.PONG, b"probe")
    for bad in (b"7", b"", b"x"):
        with pytest.raises(DecodeError):
            decode_ws_message(bad, False, 4)

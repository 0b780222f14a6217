"""Socket.IO codec: grammar of socket.io-parser, v5 payload rules, binary reassembly."""

from __future__ import annotations

import contextlib
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.errors import DecodeError, SioscopeError
from analyzer.socketio import (
    BinaryAssembler,
    SioPacket,
    SioPacketType,
    connect_error_message,
    connect_info,
    decode_sio,
    event_name,
)

T = SioPacketType


def encode_sio(p: SioPacket) -> str:
    """Test-only encoder, after socket.io-parser's encodeAsString."""
    out = str(int(p.type))
    if p.type in (T.BINARY_EVENT, T.BINARY_ACK):
        out += f"{p.attachments}-"
    if p.nsp != "/":
        out += p.nsp + (f"?{p.query}" if p.query is not None else "") + ","
    if p.ack_id is not None:
        out += str(p.ack_id)
    if p.data is not None:
        out += json.dumps(p.data, separators=(",", ":"))
    return out


@pytest.mark.parametrize(
    ("raw", "protocol", "fields"),
    [
        ("0", 5, (T.CONNECT, "/", None, None, 0, None)),
        ('0{"token":"x"}', 5, (T.CONNECT, "/", None, {"token": "x"}, 0, None)),
        ('0/admin,{"sid":"s1"}', 5, (T.CONNECT, "/admin", None, {"sid": "s1"}, 0, None)),
        ("0/admin?token=x,", 4, (T.CONNECT, "/admin", None, None, 0, "token=x")),
        ("1", 5, (T.DISCONNECT, "/", None, None, 0, None)),
        ("1/admin,", 5, (T.DISCONNECT, "/admin", None, None, 0, None)),
        ("1/admin", 5, (T.DISCONNECT, "/admin", None, None, 0, None)),
        ('2["ev",1]', 5, (T.EVENT, "/", None, ["ev", 1], 0, None)),
        ('2/admin,13["ev"]', 5, (T.EVENT, "/admin", 13, ["ev"], 0, None)),
        ('213["ev"]', 5, (T.EVENT, "/", 13, ["ev"], 0, None)),
        ("2[7]", 5, (T.EVENT, "/", None, [7], 0, None)),
        ('3/admin,13["ok"]', 5, (T.ACK, "/admin", 13, ["ok"], 0, None)),
        ("30[]", 5, (T.ACK, "/", 0, [], 0, None)),
        ('4{"message":"Not authorized"}', 5,
         (T.CONNECT_ERROR, "/", None, {"message": "Not authorized"}, 0, None)),
        ('4"Invalid namespace"', 4, (T.CONNECT_ERROR, "/", None, "Invalid namespace", 0, None)),
        ('51-["up",{"_placeholder":true,"num":0}]', 5,
         (T.BINARY_EVENT, "/", None, ["up", {"_placeholder": True, "num": 0}], 1, None)),
        ("62-/a,9[]", 5, (T.BINARY_ACK, "/a", 9, [], 2, None)),
        ("0/admin?token=x,", 5, (T.CONNECT, "/admin?token=x", None, None, 0, None)),
        ('1{"reason":"x"}', 4, (T.DISCONNECT, "/", None, {"reason": "x"}, 0, None)),
    ],
)  # fmt: skip
def test_decode_grammar(raw: str, protocol: int, fields: tuple[object, ...]) -> None:
    p = decode_sio(raw, protocol)
    assert (p.type, p.nsp, p.ack_id, p.data, p.attachments, p.query) == fields
    assert p.raw == raw


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ("", "empty"),
        ("7", "unknown"),
        ("x", "unknown"),
        ("0[1]", "object"),
        ('0"s"', "object"),
        ('1{"reason":"x"}', "no payload"),
        ("2[]", "non-empty"),
        ('2{"a":1}', "non-empty"),
        ('2["connect"]', "reserved"),
        ('2["disconnect",1]', "reserved"),
        ("2[null]", "string or a number"),
        ("2[true]", "string or a number"),
        ('3{"a":1}', "array"),
        ("4[1]", "string or an object"),
        ("5[]", "attachments"),
        ("5x-[]", "attachments"),
        ("2[", "JSON"),
        ("2[NaN]", "JSON"),
        ("2" + "[" * 100000, "nested"),
        ("2" + "1" * 50 + "[1]", "ack id"),
    ],
)
def test_decode_rejects_like_the_real_v5_decoder(raw: str, why: str) -> None:
    with pytest.raises(DecodeError, match=why):
        decode_sio(raw, 5)


def test_v4_accepts_any_json_but_rejects_bad_json() -> None:
    assert decode_sio("2[]", 4).data == []
    with pytest.raises(DecodeError):
        decode_sio("2{", 4)


def test_size_limit() -> None:
    with pytest.raises(DecodeError, match="limit"):
        decode_sio('2["ev","' + "x" * 100 + '"]', 5, max_length=50)


def test_binary_assembler_reassembles() -> None:
    assembler = BinaryAssembler()
    head = decode_sio(
        '52-["up",{"_placeholder":true,"num":1},{"k":[{"_placeholder":true,"num":0}]}]', 5
    )
    assert assembler.add_packet(head) is None
    assert assembler.awaiting == 2
    assert assembler.add_attachment(b"zero") is None
    done = assembler.add_attachment(b"one")
    assert done is not None
    assert done.data == ["up", b"one", {"k": [b"zero"]}]
    assert done.type is T.BINARY_EVENT and assembler.awaiting == 0
    plain = decode_sio('2["x"]', 5)
    assert assembler.add_packet(plain) is plain
    zero = decode_sio('50-["x"]', 5)
    assert assembler.add_packet(zero) is zero


def test_binary_assembler_errors() -> None:
    assembler = BinaryAssembler()
    with pytest.raises(DecodeError, match="not reconstructing"):
        assembler.add_attachment(b"x")
    assembler.add_packet(decode_sio('51-["a",{"_placeholder":true,"num":0}]', 5))
    with pytest.raises(DecodeError, match="plaintext"):
        assembler.add_packet(decode_sio('2["b"]', 5))
    assert assembler.awaiting == 0  # recovered
    with pytest.raises(DecodeError, match="too many"):
        assembler.add_packet(decode_sio('511-["a"]', 5))
    assembler.add_packet(decode_sio('51-["a",{"_placeholder":true,"num":3}]', 5))
    with pytest.raises(DecodeError, match="placeholder"):
        assembler.add_attachment(b"x")


def test_helpers() -> None:
    assert event_name(decode_sio('2/a,1["chat",{}]', 5)) == "chat"
    assert event_name(decode_sio("2[42]", 5)) == "42"
    assert event_name(decode_sio('3["chat"]', 5)) is None
    ack = connect_info(decode_sio('0{"sid":"S","pid":"P"}', 5))
    assert ack == ("S", "P", None, None)
    client = connect_info(decode_sio('0{"pid":"P","offset":"O","token":"t"}', 5))
    assert (client.sid, client.pid, client.offset, client.auth) == (None, "P", "O", {"token": "t"})
    assert connect_info(decode_sio("0/admin?x=1,", 4)) == (None, None, None, None)
    assert connect_error_message(decode_sio('4{"message":"Not authorized","data":1}', 5)) == (
        "Not authorized"
    )
    assert connect_error_message(decode_sio('4/admin,"Invalid namespace"', 4)) == (
        "Invalid namespace"
    )
    assert connect_error_message(decode_sio("4", 4)) == ""


# ---------------------------------------------------------------- properties

json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(10**12), 10**12), st.text(max_size=8),
    st.floats(allow_nan=False, allow_infinity=False),
)  # fmt: skip
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)
namespaces = st.one_of(
    st.just("/"),
    st.text(max_size=8).filter(lambda s: "," not in s and "?" not in s).map(lambda s: "/" + s),
)


@st.composite
def valid_packets(draw: st.DrawFn) -> SioPacket:
    ptype = draw(st.sampled_from(list(T)))
    nsp = draw(namespaces)
    ack = draw(st.none() | st.integers(0, 10**9))
    attachments = draw(st.integers(0, 10)) if ptype in (T.BINARY_EVENT, T.BINARY_ACK) else 0
    data: object
    if ptype is T.CONNECT:
        data = draw(st.none() | st.dictionaries(st.text(max_size=5), json_values, max_size=3))
    elif ptype is T.DISCONNECT:
        data = None
    elif ptype is T.CONNECT_ERROR:
        data = draw(st.text(max_size=10) | st.fixed_dictionaries({"message": st.text(max_size=10)}))
    elif ptype in (T.ACK, T.BINARY_ACK):
        data = draw(st.lists(json_values, max_size=3))
    else:
        name = draw(
            st.integers(0, 99)
            | st.text(max_size=6).filter(lambda s: s not in ("connect", "disconnect"))
        )
        data = [name, *draw(st.lists(json_values, max_size=3))]
    query = None
    return SioPacket(ptype, nsp, ack, data, attachments, query, "")


@settings(max_examples=200)
@given(valid_packets())
def test_round_trip(packet: SioPacket) -> None:
    raw = encode_sio(packet)
    decoded = decode_sio(raw, 5)
    assert decoded == SioPacket(
        packet.type, packet.nsp, packet.ack_id, packet.data, packet.attachments, None, raw
    )


@settings(max_examples=200)
@given(st.text(max_size=80), st.sampled_from([4, 5]))
def test_decode_raises_only_decode_error(raw: str, protocol: int) -> None:
    with contextlib.suppress(SioscopeError):
        decode_sio(raw, protocol)


@settings(max_examples=100)
@given(
    st.lists(
        st.one_of(st.text(max_size=40).map(lambda s: "5" + s), st.binary(max_size=8)), max_size=8
    )
)
def test_assembler_raises_only_decode_error(items: list[str | bytes]) -> None:
    assembler = BinaryAssembler()
    for item in items:
        try:
            if isinstance(item, bytes):
                assembler.add_attachment(item)
            else:
                packet = assembler.add_packet(decode_sio(item, 5))
                if packet is not None:
                    connect_error_message(packet)
                    event_name(packet)
        except SioscopeError:
            pass

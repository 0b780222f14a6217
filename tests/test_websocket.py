"""WebSocket frames: lengths, masking, fragmentation, control frames, permessage-deflate."""

from __future__ import annotations

import itertools
import zlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.core import Diagnostic, Side
from analyzer.errors import DecodeError
from analyzer.transport import WsClose, WsControl, WsMessage, WsOpcode
from analyzer.websocket import (
    DeflateParams,
    WsLimits,
    WsOut,
    WsParser,
    parse_deflate_params,
    unmask,
)

MASK = b"\x11\x22\x33\x44"


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = None,
    length: int | None = None,
) -> bytes:
    """A frame as it goes on the wire; `length` forces the header's length field."""
    size = len(payload) if length is None else length
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if mask else 0
    if size < 126:
        head = bytes([first, bit | size])
    elif size < 1 << 16:
        head = bytes([first, bit | 126]) + size.to_bytes(2, "big")
    else:
        head = bytes([first, bit | 127]) + size.to_bytes(8, "big")
    if mask:
        return head + mask + unmask(payload, mask)
    return head + payload


def messages(items: list[WsOut]) -> list[WsMessage]:
    return [i for i in items if isinstance(i, WsMessage)]


def codes(items: list[WsOut]) -> list[str]:
    return [i.code for i in items if isinstance(i, Diagnostic)]


def compressor() -> zlib._Compress:
    return zlib.compressobj(wbits=-15)


def deflate_message(comp: zlib._Compress, data: bytes) -> bytes:
    """What a permessage-deflate sender puts in a message: sync-flushed, tail removed."""
    out = comp.compress(data) + comp.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def test_server_text_and_binary_with_offsets() -> None:
    parser = WsParser(3, Side.SERVER)
    stream = frame(1, b"40") + frame(2, b"\x00\x01")
    out = parser.feed(10, stream, 500)
    first, second = messages(out)
    assert (first.opcode, first.payload, first.wire_len, first.end_offset) == (
        WsOpcode.TEXT,
        b"40",
        4,
        504,
    )
    assert (second.opcode, second.payload, second.end_offset) == (WsOpcode.BINARY, b"\x00\x01", 508)
    assert (second.conn, second.side, second.ts_ns) == (3, Side.SERVER, 10)
    assert not second.compressed
    assert codes(out) == []


def test_client_frames_are_unmasked() -> None:
    parser = WsParser(1, Side.CLIENT)
    out = parser.feed(1, frame(1, b"2probe", mask=MASK), 0)
    assert [m.payload for m in messages(out)] == [b"2probe"]
    assert codes(out) == []


def test_unmasked_client_frame_is_noted_once() -> None:
    parser = WsParser(1, Side.CLIENT)
    out = parser.feed(1, frame(1, b"a") + frame(1, b"b"), 0)
    assert [m.payload for m in messages(out)] == [b"a", b"b"]
    assert codes(out) == ["ws-mask"]


@pytest.mark.parametrize("size", [125, 126, 65535, 65536, 70000])
def test_16_and_64_bit_lengths(size: int) -> None:
    payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
    parser = WsParser(1, Side.CLIENT)
    [msg] = messages(parser.feed(1, frame(2, payload, mask=MASK), 0))
    assert msg.payload == payload
    assert msg.wire_len == size + (2 if size < 126 else 4 if size < 65536 else 10) + 4


def test_length_near_2_63_is_skipped_without_allocating() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(1, frame(2, b"", length=(1 << 63) - 1) + b"x" * 100, 0)
    assert codes(out) == ["ws-frame-too-large"]
    assert messages(out) == []


def test_length_with_top_bit_set_is_a_protocol_error() -> None:
    parser = WsParser(1, Side.SERVER)
    bad = bytes([0x82, 127]) + (1 << 63).to_bytes(8, "big")
    out = parser.feed(1, bad + frame(1, b"after"), 0)
    assert codes(out) == ["ws-protocol-error"]
    assert messages(out) == []


def test_oversized_frame_skipped_then_parsing_continues() -> None:
    parser = WsParser(1, Side.SERVER, limits=WsLimits(frame_bytes=10))
    out = parser.feed(1, frame(2, b"y" * 50) + frame(1, b"next"), 0)
    assert [m.payload for m in messages(out)] == [b"next"]
    assert codes(out) == ["ws-frame-too-large"]


def test_fragmented_message_with_interleaved_ping() -> None:
    parser = WsParser(1, Side.CLIENT)
    stream = (
        frame(1, b"hel", fin=False, mask=MASK)
        + frame(9, b"p", mask=MASK)
        + frame(0, b"lo ", fin=False, mask=MASK)
        + frame(0, b"world", mask=MASK)
    )
    out = parser.feed(5, stream, 0)
    assert [type(o) for o in out] == [WsControl, WsMessage]
    control, msg = out
    assert isinstance(control, WsControl) and isinstance(msg, WsMessage)
    assert (control.opcode, control.payload) == (WsOpcode.PING, b"p")
    assert (msg.opcode, msg.payload) == (WsOpcode.TEXT, b"hello world")
    assert msg.wire_len == len(stream) - 7  # all but the ping frame


def test_fragmentation_protocol_errors() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(1, frame(0, b"orphan"), 0)
    out += parser.feed(1, frame(1, b"a", fin=False) + frame(1, b"b"), 8)
    out += parser.feed(1, frame(9, b"x" * 126) + frame(10, b"", fin=False), 14)
    assert codes(out) == [
        "ws-orphan-continuation",
        "ws-unfinished-message",
        "ws-bad-control",
        "ws-bad-control",
    ]
    assert [m.payload for m in messages(out)] == [b"b"]


def test_bad_opcode_stops_the_direction() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(1, frame(3, b"?") + frame(1, b"later"), 0)
    assert codes(out) == ["ws-bad-opcode"]
    assert messages(out + parser.feed(2, frame(1, b"x"), 10)) == []


def test_close_frames_with_and_without_body() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(7, frame(8, (1000).to_bytes(2, "big") + b"bye") + frame(8, b""), 0)
    # Offsets: a 2-byte header + 5-byte body ends at 7; the empty close frame at 9.
    assert out == [
        WsClose(1, Side.SERVER, 7, 1000, "bye", 7),
        WsClose(1, Side.SERVER, 7, None, "", 9),
    ]


def test_invalid_utf8_text_is_kept_with_a_note() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(1, frame(1, b"\xff\xfe"), 0)
    assert [m.payload for m in messages(out)] == [b"\xff\xfe"]
    assert codes(out) == ["ws-invalid-utf8"]


def test_parse_deflate_params() -> None:
    assert parse_deflate_params(None) is None
    assert parse_deflate_params("x-webkit-deflate-frame") is None
    params = parse_deflate_params(
        'permessage-deflate; server_no_context_takeover; client_max_window_bits="10"'
    )
    assert params == DeflateParams(server_no_context_takeover=True, client_max_window_bits=10)
    assert parse_deflate_params("permessage-deflate") == DeflateParams()
    with pytest.raises(DecodeError):
        parse_deflate_params("permessage-deflate; server_max_window_bits=99")
    with pytest.raises(DecodeError):  # a digit to isdigit(), not to int()
        parse_deflate_params("permessage-deflate; server_max_window_bits=\u00b2")


def test_compressed_messages_keep_context_across_messages() -> None:
    comp = compressor()
    texts = [b'42["chat","hello hello hello"]', b'42["chat","hello hello hello"]', b"3"]
    parts = [deflate_message(comp, t) for t in texts]
    assert len(parts[1]) < len(parts[0])  # the second one refers back into the first
    parser = WsParser(1, Side.SERVER, deflate=DeflateParams())
    out = parser.feed(1, b"".join(frame(1, p, rsv1=True) for p in parts), 0)
    assert [(m.payload, m.compressed) for m in messages(out)] == [(t, True) for t in texts]
    assert codes(out) == []


def test_compressed_fragmented_masked_client_message() -> None:
    data = deflate_message(compressor(), b"4" + b"payload " * 50)
    stream = frame(1, data[:5], fin=False, rsv1=True, mask=MASK) + frame(0, data[5:], mask=MASK)
    parser = WsParser(1, Side.CLIENT, deflate=DeflateParams())
    [msg] = messages(parser.feed(1, stream, 0))
    assert msg.payload == b"4" + b"payload " * 50 and msg.compressed


def test_no_context_takeover_resets_per_message() -> None:
    texts = [b"same text same text", b"same text same text"]
    fresh = [deflate_message(compressor(), t) for t in texts]  # new compressor each message
    params = parse_deflate_params("permessage-deflate; client_no_context_takeover")
    parser = WsParser(1, Side.CLIENT, deflate=params)
    out = parser.feed(1, b"".join(frame(1, p, rsv1=True, mask=MASK) for p in fresh), 0)
    assert [m.payload for m in messages(out)] == texts
    # The parameter names the client: the server direction still keeps its context.
    comp = compressor()
    shared = [deflate_message(comp, t) for t in texts]
    server = WsParser(1, Side.SERVER, deflate=params)
    out = server.feed(1, b"".join(frame(1, p, rsv1=True) for p in shared), 0)
    assert [m.payload for m in messages(out)] == texts


def test_context_reset_when_sender_did_not_keep_it_fails_loudly() -> None:
    comp = compressor()
    parts = [deflate_message(comp, b"abcabcabcabc-abcabcabcabc") for _ in range(2)]
    params = DeflateParams(server_no_context_takeover=True)  # wrong: sender kept context
    parser = WsParser(1, Side.SERVER, deflate=params)
    out = parser.feed(1, b"".join(frame(1, p, rsv1=True) for p in parts), 0)
    assert len(messages(out)) == 1
    assert codes(out) == ["ws-inflate-error"]


def test_inflate_limit_guards_against_bombs() -> None:
    bomb = deflate_message(compressor(), b"\0" * 100_000)
    parser = WsParser(1, Side.SERVER, deflate=DeflateParams(), limits=WsLimits(inflate_bytes=1000))
    out = parser.feed(1, frame(2, bomb, rsv1=True), 0)
    assert messages(out) == []
    assert codes(out) == ["ws-inflate-limit"]


def test_gap_stops_and_finish_reports_incomplete() -> None:
    parser = WsParser(1, Side.SERVER)
    out = parser.feed(1, frame(1, b"ok") + b"\x81", 0)
    out += parser.feed(2, b"\x05abc", 10)
    assert codes(out) == ["ws-gap"]
    other = WsParser(1, Side.SERVER)
    assert codes(other.feed(1, b"\x81\x05ab", 0) + other.finish()) == ["ws-incomplete"]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(max_size=80), max_size=10), st.booleans(), st.booleans())
def test_arbitrary_bytes_never_raise(chunks: list[bytes], client: bool, deflate: bool) -> None:
    parser = WsParser(
        1,
        Side.CLIENT if client else Side.SERVER,
        deflate=DeflateParams() if deflate else None,
        limits=WsLimits(frame_bytes=100, message_bytes=150, inflate_bytes=200),
    )
    offset = 0
    for chunk in chunks:
        parser.feed(1, chunk, offset)
        offset += len(chunk)
    parser.finish()


def _valid_stream() -> bytes:
    comp = compressor()
    return (
        frame(1, deflate_message(comp, b'0{"sid":"x"}'), rsv1=True, mask=MASK)
        + frame(2, b"bin" * 100, fin=False, mask=MASK)
        + frame(10, b"", mask=MASK)
        + frame(0, b"end", mask=MASK)
        + frame(1, deflate_message(comp, b'0{"sid":"x"} again'), rsv1=True, mask=MASK)
        + frame(8, (1001).to_bytes(2, "big"), mask=MASK)
    )


def _run(cuts: list[int]) -> list[WsOut]:
    data = _valid_stream()
    points = sorted({c % (len(data) + 1) for c in cuts} | {0, len(data)})
    parser = WsParser(1, Side.CLIENT, deflate=DeflateParams())
    out: list[WsOut] = []
    for start, end in itertools.pairwise(points):
        out += parser.feed(1, data[start:end], 1000 + start)
    return out


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(0, 2000), max_size=10))
def test_random_split_gives_same_records(cuts: list[int]) -> None:
    whole = _run([])
    assert [type(o).__name__ for o in whole] == [
        "WsMessage",
        "WsControl",
        "WsMessage",
        "WsMessage",
        "WsClose",
    ]
    assert _run(cuts) == whole

"""Property tests: any arrival order of a complete stream reassembles it exactly."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.core import Endpoint
from analyzer.net.events import (
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    StreamData,
    StreamGap,
    TcpEvent,
)
from analyzer.net.packet import ACK, FIN, PSH, SYN, TcpSegment
from analyzer.net.tcp import TcpReassembler

CLIENT = Endpoint("192.0.2.1", 50000)
SERVER = Endpoint("192.0.2.2", 443)


def _segment(index: int, src_is_client: bool, flags: int, seq: int, ack: int,
             payload: bytes = b"") -> TcpSegment:  # fmt: skip
    src, dst = (CLIENT, SERVER) if src_is_client else (SERVER, CLIENT)
    return TcpSegment(index, index * 1000, src, dst, seq % 2**32, ack % 2**32, flags, 1000,
                      payload, False)  # fmt: skip


@st.composite
def shuffled_stream(draw: st.DrawFn) -> tuple[bytes, int, list[tuple[int, int]]]:
    """A stream, an ISN, and (start, end) pieces covering it, in arrival order."""
    data = draw(st.binary(min_size=1, max_size=3000))
    isn = draw(st.integers(0, 2**32 - 1))
    cuts = (
        sorted(set(draw(st.lists(st.integers(1, len(data) - 1), max_size=30))))
        if len(data) > 1
        else []
    )
    bounds = [0, *cuts, len(data)]
    pieces = list(itertools.pairwise(bounds))
    extra = draw(st.lists(st.tuples(st.integers(0, len(data) - 1), st.integers(1, 200)),
                          max_size=10))  # fmt: skip
    pieces += [(start, min(len(data), start + n)) for start, n in extra]  # overlaps, duplicates
    order = draw(st.permutations(pieces))
    return data, isn, list(order)


@settings(max_examples=150, deadline=None)
@given(shuffled_stream(), st.booleans())
def test_any_arrival_order_reproduces_the_stream(
    case: tuple[bytes, int, list[tuple[int, int]]], fin_first: bool
) -> None:
    data, isn, pieces = case
    s_isn = 12345
    segs = [_segment(1, True, SYN, isn, 0), _segment(2, False, SYN | ACK, s_isn, isn + 1),
            _segment(3, True, ACK, isn + 1, s_isn + 1)]  # fmt: skip
    fin = _segment(0, True, FIN | ACK, isn + 1 + len(data), s_isn + 1)
    if fin_first:
        segs.append(fin)
    for i, (start, end) in enumerate(pieces):
        segs.append(_segment(10 + i, True, ACK | PSH, isn + 1 + start, s_isn + 1, data[start:end]))
    if not fin_first:
        segs.append(fin)
    reassembler = TcpReassembler()
    events: list[TcpEvent] = []
    for seg in segs:
        events.extend(reassembler.feed(seg))
    events.extend(reassembler.finish(False))
    rebuilt = bytearray()
    for e in events:
        assert not isinstance(e, StreamGap)
        if isinstance(e, StreamData) and e.direction is Direction.ORIGINATOR:
            assert e.offset == len(rebuilt)
            rebuilt += e.data
    assert bytes(rebuilt) == data
    closed = [e for e in events if isinstance(e, ConnectionClosed)]
    assert len(closed) == 1 and closed[0].first_fin is Direction.ORIGINATOR


segment_strategy = st.builds(
    TcpSegment,
    index=st.integers(0, 100),
    ts_ns=st.integers(0, 10**12),
    src=st.sampled_from([CLIENT, SERVER, Endpoint("192.0.2.3", 80)]),
    dst=st.sampled_from([CLIENT, SERVER]),
    seq=st.sampled_from([0, 1, 2**31, 2**32 - 1, 1000, 1001, 1005]) | st.integers(0, 2**32 - 1),
    ack=st.sampled_from([0, 1, 1001, 1005, 2**32 - 1]) | st.integers(0, 2**32 - 1),
    flags=st.integers(0, 255),
    window=st.integers(0, 65535),
    payload=st.binary(max_size=64),
    caplen_cut=st.booleans(),
    cut_bytes=st.integers(0, 100),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(segment_strategy, max_size=40), st.booleans())
def test_arbitrary_segments_never_raise(segs: list[TcpSegment], truncated: bool) -> None:
    reassembler = TcpReassembler(gap_after=128, max_connections=2)
    events: list[TcpEvent] = []
    for seg in segs:
        events.extend(reassembler.feed(seg))
    events.extend(reassembler.finish(truncated))
    opened: set[int] = set()
    closed: set[int] = set()
    next_offset: dict[tuple[int, Direction], int] = {}
    for event in events:
        if isinstance(event, ConnectionOpened):
            assert event.conn == len(opened)  # ids 0, 1, 2 ... in order
            opened.add(event.conn)
            continue
        assert event.conn in opened and event.conn not in closed
        if isinstance(event, ConnectionClosed):
            closed.add(event.conn)
        elif isinstance(event, StreamData | StreamGap):
            key = (event.conn, event.direction)
            assert event.offset == next_offset.get(key, 0)  # contiguous, no duplicates
            size = len(event.data) if isinstance(event, StreamData) else event.length
            assert size > 0
            next_offset[key] = event.offset + size
    assert opened == closed
    assert isinstance(reassembler.diagnostics, list)

"""TCP reassembly: ordering, retransmission, gaps, wraparound, connection splitting."""

from __future__ import annotations

from analyzer.core import Endpoint
from analyzer.net.events import (
    Acked,
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    Retransmitted,
    StreamData,
    StreamGap,
    TcpEvent,
)
from analyzer.net.packet import ACK, FIN, PSH, RST, SYN, TcpSegment
from analyzer.net.tcp import TcpReassembler
from analyzer.transport import TcpEnd

CLIENT = Endpoint("10.0.0.1", 40000)
SERVER = Endpoint("10.0.0.2", 80)
ORIG, RESP = Direction.ORIGINATOR, Direction.RESPONDER
C_ISN, S_ISN = 1000, 5000


class Wire:
    """Builds segments of one client/server conversation with running timestamps."""

    def __init__(self, c_isn: int = C_ISN, s_isn: int = S_ISN) -> None:
        self.c_isn, self.s_isn = c_isn, s_isn
        self.ts = 1_000_000_000
        self.index = 0

    def seg(self, from_client: bool, flags: int, seq: int, ack: int = 0,
            payload: bytes = b"", window: int = 65535) -> TcpSegment:  # fmt: skip
        self.ts += 1000
        self.index += 1
        src, dst = (CLIENT, SERVER) if from_client else (SERVER, CLIENT)
        return TcpSegment(self.index, self.ts, src, dst, seq % 2**32, ack % 2**32, flags,
                          window, payload, False)  # fmt: skip

    def c(self, off: int, payload: bytes = b"", flags: int = ACK | PSH, ack: int = 0) -> TcpSegment:
        return self.seg(True, flags, self.c_isn + 1 + off, self.s_isn + 1 + ack, payload)

    def s(self, off: int, payload: bytes = b"", flags: int = ACK | PSH, ack: int = 0) -> TcpSegment:
        return self.seg(False, flags, self.s_isn + 1 + off, self.c_isn + 1 + ack, payload)

    def handshake(self) -> list[TcpSegment]:
        return [
            self.seg(True, SYN, self.c_isn),
            self.seg(False, SYN | ACK, self.s_isn, self.c_isn + 1),
            self.c(0, flags=ACK),
        ]


def run(segments: list[TcpSegment], reassembler: TcpReassembler | None = None,
        truncated: bool = False) -> list[TcpEvent]:  # fmt: skip
    r = reassembler or TcpReassembler()
    events: list[TcpEvent] = []
    for s in segments:
        events.extend(r.feed(s))
    events.extend(r.finish(truncated))
    return events


def stream(events: list[TcpEvent], direction: Direction, conn: int = 0) -> bytes:
    """Join a direction's data, checking offsets are contiguous; gaps become '?' bytes."""
    out = bytearray()
    for e in events:
        if isinstance(e, StreamData | StreamGap) and e.conn == conn and e.direction is direction:
            assert e.offset == len(out), (e, len(out))
            out += e.data if isinstance(e, StreamData) else b"?" * e.length
    return bytes(out)


def of(events: list[TcpEvent], kind: type) -> list:  # type: ignore[type-arg]
    return [e for e in events if isinstance(e, kind)]


def test_in_order_stream_and_clean_close() -> None:
    w = Wire()
    segs = [*w.handshake(), w.c(0, b"GET / HTTP/1.1\r\n\r\n"),
            w.s(0, b"HTTP/1.1 200 OK\r\n\r\n", ack=18),
            w.c(18, flags=FIN | ACK, ack=19), w.s(19, flags=FIN | ACK, ack=19)]  # fmt: skip
    events = run(segs)
    opened = of(events, ConnectionOpened)
    assert len(opened) == 1 and opened[0].originator == CLIENT and opened[0].handshake_seen
    assert not opened[0].direction_guessed
    assert stream(events, ORIG) == b"GET / HTTP/1.1\r\n\r\n"
    assert stream(events, RESP) == b"HTTP/1.1 200 OK\r\n\r\n"
    closed = of(events, ConnectionClosed)
    assert len(closed) == 1
    assert closed[0].end is TcpEnd.CLEAN_CLOSE and closed[0].first_fin is ORIG
    assert closed[0].ts_ns == segs[-1].ts_ns  # closed at the second FIN, not at finish()
    assert isinstance(events[-1], ConnectionClosed)


def test_out_of_order_is_delivered_in_order_at_completion_time() -> None:
    w = Wire()
    a, b, c = w.c(0, b"aaaa"), w.c(4, b"bbbb"), w.c(8, b"cccc")
    events = run([*w.handshake(), c, a, b])
    data = of(events, StreamData)
    assert [d.data for d in data] == [b"aaaa", b"bbbbcccc"]
    assert data[1].ts_ns == b.ts_ns  # the segment that made the bytes deliverable
    assert not of(events, Retransmitted)


def test_retransmission_and_overlap_are_counted_not_duplicated() -> None:
    w = Wire()
    segs = [*w.handshake(), w.c(0, b"hello"), w.c(0, b"hello"), w.c(3, b"lo world"),
            w.c(20, b"zz"), w.c(20, b"zz")]  # fmt: skip
    events = run(segs)
    rt = of(events, Retransmitted)
    assert [(r.offset, r.length) for r in rt] == [(0, 5), (3, 2), (20, 2)]
    assert stream(events, ORIG).startswith(b"hello world")
    closed = of(events, ConnectionClosed)[0]
    assert closed.retransmissions[ORIG] == 3 and closed.retransmissions[RESP] == 0


def test_gap_emitted_when_peer_acks_past_hole() -> None:
    w = Wire()
    segs = [*w.handshake(), w.c(0, b"1111"), w.c(8, b"3333"), w.s(0, flags=ACK, ack=12),
            w.c(4, b"2222")]  # arrives after the gap was declared: never spliced in  # fmt: skip
    events = run(segs)
    gaps = of(events, StreamGap)
    assert [(g.offset, g.length) for g in gaps] == [(4, 4)]
    assert gaps[0].ts_ns == segs[-2].ts_ns
    assert stream(events, ORIG) == b"1111????3333"
    assert [(r.offset, r.length) for r in of(events, Retransmitted)] == [(4, 4)]
    assert of(events, ConnectionClosed)[0].gap_bytes == 4


def test_gap_at_finish_and_buffer_bound() -> None:
    w = Wire()
    events = run([*w.handshake(), w.c(0, b"ab"), w.c(10, b"xy")])
    assert stream(events, ORIG) == b"ab????????xy"
    w = Wire()
    r = TcpReassembler(gap_after=100)
    segs = [*w.handshake(), w.c(0, b"a")] + [w.c(10 + 50 * i, b"z" * 50) for i in range(3)]
    events = []
    for s in segs:
        events.extend(r.feed(s))
    assert of(events, StreamGap)  # bound reached before finish()
    assert r.stats.forced_gaps >= 1
    events.extend(r.finish(False))
    assert stream(events, ORIG) == b"a" + b"?" * 9 + b"z" * 150


def test_acked_once_per_advance() -> None:
    w = Wire()
    segs = [*w.handshake(), w.c(0, b"ping"), w.s(0, flags=ACK, ack=4), w.s(0, flags=ACK, ack=4),
            w.c(4, b"more"), w.s(0, b"pong", ack=8)]  # fmt: skip
    acked = [(a.direction, a.offset) for a in of(run(segs), Acked)]
    assert acked == [(ORIG, 4), (ORIG, 8)]


def test_sequence_wraparound() -> None:
    w = Wire(c_isn=2**32 - 3)
    segs = [*w.handshake(), w.c(0, b"abcd"), w.c(8, b"ijkl"), w.c(4, b"efgh")]
    events = run(segs)
    assert stream(events, ORIG) == b"abcdefghijkl"
    assert segs[-2].seq < 10  # the sequence numbers really wrapped
    assert not of(events, StreamGap) and not of(events, Retransmitted)


def test_port_reuse_with_new_syn_starts_new_connection() -> None:
    first, second = Wire(), Wire(c_isn=9_000_000, s_isn=7_000_000)
    second.ts = 2_000_000_000
    segs = [*first.handshake(), first.c(0, b"one"),
            first.c(3, flags=FIN | ACK), first.s(0, flags=FIN | ACK, ack=4),
            first.c(4, flags=ACK, ack=1),  # final ACK after close: late, no new connection
            *second.handshake(), second.c(0, b"two")]  # fmt: skip
    events = run(segs)
    assert [o.conn for o in of(events, ConnectionOpened)] == [0, 1]
    assert stream(events, ORIG, 0) == b"one" and stream(events, ORIG, 1) == b"two"
    ends = [(c.conn, c.end) for c in of(events, ConnectionClosed)]
    assert ends == [(0, TcpEnd.CLEAN_CLOSE), (1, TcpEnd.OPEN_AT_END)]


def test_new_syn_on_open_connection_with_other_isn_splits() -> None:
    first, second = Wire(), Wire(c_isn=77)
    segs = [*first.handshake(), first.c(0, b"x"), first.seg(True, SYN, C_ISN),
            *second.handshake()]  # fmt: skip
    events = run(segs)
    assert [o.conn for o in of(events, ConnectionOpened)] == [0, 1]  # SYN retransmit ignored
    closed = of(events, ConnectionClosed)
    assert closed[0].conn == 0 and closed[0].end is TcpEnd.OPEN_AT_END


def test_rst_and_rejected_and_no_reply() -> None:
    w = Wire()
    events = run([*w.handshake(), w.c(0, b"hi"), w.s(0, flags=RST | ACK, ack=2)])
    closed = of(events, ConnectionClosed)[0]
    assert closed.end is TcpEnd.RESET_BY_SERVER and closed.first_rst is RESP
    w = Wire()
    events = run([w.seg(True, SYN, C_ISN), w.seg(False, RST | ACK, 0, C_ISN + 1)])
    assert of(events, ConnectionClosed)[0].end is TcpEnd.REJECTED
    w = Wire()
    events = run([w.seg(True, SYN, C_ISN), w.seg(True, SYN, C_ISN)])
    assert len(of(events, ConnectionOpened)) == 1
    assert of(events, ConnectionClosed)[0].end is TcpEnd.NO_REPLY


def test_half_close_codes() -> None:
    w = Wire()
    events = run([*w.handshake(), w.c(0, flags=FIN | ACK)])
    assert of(events, ConnectionClosed)[0].end is TcpEnd.CLOSED_BY_CLIENT_ONLY
    w = Wire()
    events = run([*w.handshake(), w.s(0, flags=FIN | ACK)])
    closed = of(events, ConnectionClosed)[0]
    assert closed.end is TcpEnd.CLOSED_BY_SERVER_ONLY and closed.first_fin is RESP


def test_midstream_start_guesses_direction() -> None:
    w = Wire()
    events = run([w.s(100, b"data from server"), w.c(50, b"req", ack=116)])
    opened = of(events, ConnectionOpened)[0]
    assert opened.originator == CLIENT and opened.direction_guessed
    assert not opened.handshake_seen
    assert stream(events, RESP) == b"data from server"
    assert stream(events, ORIG) == b"req"
    assert of(events, ConnectionClosed)[0].end is TcpEnd.MIDSTREAM


def test_keepalive_and_zero_window_are_not_data() -> None:
    w = Wire()
    keepalive = w.c(3, b"\x00")  # seq = next - 1, one garbage byte
    zero = w.seg(False, ACK, S_ISN + 1, C_ISN + 5, window=0)
    events = run([*w.handshake(), w.c(0, b"abcd"), keepalive, zero])
    closed = of(events, ConnectionClosed)[0]
    assert closed.keepalives == 1 and closed.zero_windows == 1
    assert not of(events, Retransmitted)
    assert stream(events, ORIG) == b"abcd"


def test_data_after_close_is_late_and_memory_is_dropped() -> None:
    w = Wire()
    r = TcpReassembler()
    segs = [*w.handshake(), w.c(0, b"x"), w.c(1, flags=RST | ACK), w.s(0, b"late", ack=1)]
    events = run(segs, r)
    assert len(of(events, ConnectionOpened)) == 1
    assert r.stats.late_segments == 1
    assert not r._open  # nothing kept for a closed connection
    assert any(d.code == "tcp-late-segments" for d in r.diagnostics)


def test_connection_limit_evicts_oldest() -> None:
    r = TcpReassembler(max_connections=2)
    events: list[TcpEvent] = []
    for port in (1001, 1002, 1003):
        src = Endpoint("10.0.0.9", port)
        events += r.feed(TcpSegment(port, port, src, SERVER, 1, 0, SYN, 100, b"", False))
    assert [c.conn for c in of(events, ConnectionClosed)] == [0]
    assert r.stats.evicted == 1


def test_snaplen_cut_payload_becomes_gap() -> None:
    w = Wire()
    cut = TcpSegment(9, w.ts + 5, CLIENT, SERVER, C_ISN + 1, S_ISN + 1, ACK, 100, b"abc", True,
                     cut_bytes=5)  # fmt: skip
    events = run([*w.handshake(), cut, w.c(8, b"next")])
    assert stream(events, ORIG) == b"abc?????next"

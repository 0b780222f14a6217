"""TCP reassembly: segments in, per-direction ordered bytes and connection facts out.

Sans-I/O: `feed(segment) -> list[TcpEvent]`, `finish(truncated) -> list[TcpEvent]`.
A 4-tuple is split into connections on SYN (tshark's tcp.stream numbering), and a closed
connection's state is dropped at once; only a small, bounded, expiring record of recently
closed 4-tuples is kept so their late ACKs and retransmissions do not open phantom
connections.

`analyzer.net.fast` reassembles the common case itself: `feed_raw` makes an open connection
reachable by its raw header bytes (`routes`), and `feed_route`, `drop_late`, `close`,
`mark_active` and `see_time` are what it calls for the rest.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, NamedTuple

from analyzer.core import Diagnostic, Endpoint, Severity, new_record
from analyzer.net.conn import ORIG, RESP, Connection, Key, guess_direction, tcp_end
from analyzer.net.events import (
    Acked,
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    Retransmitted,
    TcpEvent,
)
from analyzer.net.packet import ACK, FIN, RST, SYN, DecodeStats, TcpSegment
from analyzer.net.stream import HalfStream

MIB: Final = 1024 * 1024
MAX_AHEAD: Final = 1 << 30  # data further beyond the delivery point than this is bogus

# What the fast path keeps per direction of an open connection, under the direction's raw
# header bytes: (connection, sender's half, peer's half, sender is the responder).
Route = tuple[Connection, HalfStream, HalfStream, bool]


class _Recent(NamedTuple):
    """What a closed connection leaves behind to recognise its late packets (one per
    connection: a tuple is cheaper to build than a frozen dataclass)."""

    originator: Endpoint
    orig_isn: int | None
    resp_isn: int | None
    expires_ns: int


@dataclass(slots=True)
class ReassemblyStats:
    """Counters behind the reassembler's summary diagnostics."""

    late_segments: int = 0  # segments of already closed connections
    bogus_segments: int = 0  # data implausibly far ahead of the stream
    forced_gaps: int = 0  # holes given up on because a buffer bound was reached
    evicted: int = 0  # connections closed early because too many were open
    open_at_end: int = 0  # connections still open when finish() was called
    ended_truncated: bool = False

    def add(self, other: ReassemblyStats) -> None:
        """Count `other`'s too (to sum the stats of a sharded decode)."""
        self.late_segments += other.late_segments
        self.bogus_segments += other.bogus_segments
        self.forced_gaps += other.forced_gaps
        self.evicted += other.evicted
        self.open_at_end += other.open_at_end
        self.ended_truncated = self.ended_truncated or other.ended_truncated


class TcpReassembler:
    """Rebuilds ordered byte streams and TCP outcomes from decoded segments."""

    def __init__(
        self,
        max_buffer: int = 8 * MIB,
        max_connections: int = 1_000_000,
        gap_after: int = 1 * MIB,
        linger_ns: int = 120 * 1_000_000_000,
        max_recent: int = 65_536,
    ) -> None:
        self.max_buffer = max_buffer  # buffered out-of-order bytes per connection
        self.max_connections = max_connections
        self.gap_after = min(gap_after, max_buffer)  # per direction, before skipping a hole
        self.linger_ns = linger_ns  # how long a closed 4-tuple's late packets are recognised
        self.max_recent = max_recent
        self.stats = ReassemblyStats()
        self.decode_stats = DecodeStats()  # filled by `analyzer.net.tcp_events`
        # The capture index of the packet whose events the fast path is yielding: lets a
        # consumer of several sharded reassemblers put their events back in packet order.
        self.packet_index = 0
        self._open: OrderedDict[Key, Connection] = OrderedDict()  # least recently active first
        self._recent: OrderedDict[Key, _Recent] = OrderedDict()  # oldest close first
        self._next_id = 0
        self._last_ts = 0
        self.routes: dict[bytes, Route] = {}  # see `feed_raw`; entries leave when conns close

    def feed(self, seg: TcpSegment) -> list[TcpEvent]:
        """Process one segment; returns the events it caused, in order."""
        out: list[TcpEvent] = []
        self._feed(seg, out)
        return out

    def _feed(
        self, seg: TcpSegment, out: list[TcpEvent], key: Key | None = None
    ) -> Connection | None:
        """`feed`; returns the connection the segment went to (it may have closed since)."""
        if seg.ts_ns > self._last_ts:
            self._last_ts = seg.ts_ns
        if key is None:
            key = connection_key(seg.src, seg.dst)
        conn = self._open.get(key)
        if conn is not None and _starts_new_connection(conn, seg):
            self._close(conn, conn.last_ts, out)
            conn = None
        if conn is None:
            conn = self._start(key, seg, out)
            if conn is None:
                return None
        else:
            self._open.move_to_end(key)
        self._segment(conn, seg, out)
        return conn

    # -- the fast path's view (`analyzer.net.fast`) ---------------------------------------

    def feed_raw(
        self, seg: TcpSegment, key: Key, raw_key: bytes, reverse_key: bytes
    ) -> list[TcpEvent]:
        """`feed` (`key` is the segment's `connection_key`), then let the fast path find
        the segment's connection by its raw header bytes (`raw_key` for this direction,
        `reverse_key` for the other): the packets that follow need neither `Endpoint`s
        nor a `TcpSegment`."""
        out: list[TcpEvent] = []
        conn = self._feed(seg, out, key)
        if conn is None or conn.raw_keys or self._open.get(conn.key) is not conn:
            return out  # a late packet, a closed or an already reachable connection
        forward = seg.src == conn.originator
        orig_key, resp_key = (raw_key, reverse_key) if forward else (reverse_key, raw_key)
        conn.raw_keys = (orig_key, resp_key)
        self.routes[orig_key] = (conn, conn.orig, conn.resp, False)
        self.routes[resp_key] = (conn, conn.resp, conn.orig, True)
        return out

    def drop_late(self, key: Key, ts_ns: int, flags: int, has_payload: bool) -> bool:
        """What `feed` does with a segment (not a SYN) of a recently closed connection -
        count it, drop it - without the segment; False when it is not one."""
        if flags & SYN or key in self._open:
            return False
        self._expire_recent(ts_ns)
        if key not in self._recent:
            return False
        if ts_ns > self._last_ts:
            self._last_ts = ts_ns
        if has_payload or flags & (FIN | RST):  # as in `_start`
            self.stats.late_segments += 1
        return True

    def feed_route(self, route: Route, seg: TcpSegment) -> list[TcpEvent]:
        """`feed` for a segment of the connection `route` leads to (no lookup)."""
        if seg.flags & (SYN | ACK | RST) == SYN:
            return self.feed(seg)  # may start a new connection on this 4-tuple
        out: list[TcpEvent] = []
        if seg.ts_ns > self._last_ts:
            self._last_ts = seg.ts_ns
        conn = route[0]
        self._open.move_to_end(conn.key)
        self._segment(conn, seg, out)
        return out

    @property
    def mark_active(self) -> Callable[[Key], None]:
        """What marks a connection most recently active (the fast path calls it directly:
        the open connections are kept least recently active first, for eviction)."""
        return self._open.move_to_end

    def close(self, conn: Connection, ts_ns: int) -> list[TcpEvent]:
        """Close `conn` now (the fast path saw both FINs delivered)."""
        out: list[TcpEvent] = []
        self._close(conn, ts_ns, out)
        return out

    def see_time(self, ts_ns: int) -> None:
        """Packets the fast path handled itself, or another shard's, move the clock too
        (`finish` closes the connections left open at the latest time seen)."""
        if ts_ns > self._last_ts:
            self._last_ts = ts_ns

    def finish(self, truncated: bool) -> list[TcpEvent]:
        """End of input: flush buffered data and close every connection still open."""
        out: list[TcpEvent] = []
        for conn in sorted(self._open.values(), key=lambda c: c.id):
            self.stats.open_at_end += 1
            self._close(conn, self._last_ts, out)
        self._recent.clear()
        self.stats.ended_truncated = truncated
        return out

    @property
    def diagnostics(self) -> list[Diagnostic]:
        """Summary diagnostics of decoding and reassembly (one per kind, not per packet)."""
        return [*self.decode_stats.diagnostics(), *_diagnostics(self.stats, self.max_connections)]

    # -- connections ---------------------------------------------------------------------

    def _start(self, key: Key, seg: TcpSegment, out: list[TcpEvent]) -> Connection | None:
        """A connection for a segment on a 4-tuple without one; None for a late packet."""
        self._expire_recent(seg.ts_ns)
        recent = self._recent.get(key)
        if recent is not None:
            if _is_late(recent, seg):
                # The ACK of the last FIN always comes after the close; only count more.
                if seg.payload or seg.flags & (FIN | RST):
                    self.stats.late_segments += 1
                return None
            del self._recent[key]
        if len(self._open) >= self.max_connections:
            self.stats.evicted += 1
            oldest = next(iter(self._open.values()))
            self._close(oldest, oldest.last_ts, out)
        conn = self._new_conn(key, seg)
        self._open[key] = conn
        seen = conn.handshake_seen  # conn, ts_ns, originator, responder, seen, guessed
        out.append(new_record(ConnectionOpened, (
            conn.id, seg.ts_ns, conn.originator, conn.responder, seen, not seen,
        )))  # fmt: skip
        return conn

    def _new_conn(self, key: Key, seg: TcpSegment) -> Connection:
        syn = seg.flags & (SYN | RST) == SYN
        if syn and not seg.flags & ACK:
            originator, responder = seg.src, seg.dst
        elif syn:  # SYN-ACK: the SYN itself was not captured
            originator, responder = seg.dst, seg.src
        else:
            originator, responder = guess_direction(seg.src, seg.dst)
        conn = Connection(self._next_id, key, originator, responder)
        conn.handshake_seen = syn
        self._next_id += 1
        return conn

    def _close(self, conn: Connection, ts_ns: int, out: list[TcpEvent]) -> None:
        """Flush both directions, emit ConnectionClosed, keep only a `_Recent` record."""
        conn.orig.flush_all(ts_ns, out)
        conn.resp.flush_all(ts_ns, out)
        orig, resp = conn.orig, conn.resp
        closed = (
            conn.id,
            ts_ns,
            tcp_end(conn),
            conn.first_fin,
            conn.first_rst,
            conn.fin_ts,
            conn.rst_ts,
            _last_payloads(conn),
            {ORIG: orig.retransmissions, RESP: resp.retransmissions},
            orig.gap_bytes + resp.gap_bytes,
            conn.zero_windows,
            conn.keepalives,
        )
        out.append(new_record(ConnectionClosed, closed))
        del self._open[conn.key]
        for raw_key in conn.raw_keys:
            del self.routes[raw_key]
        self._recent[conn.key] = new_record(
            _Recent, (conn.originator, orig.isn, resp.isn, ts_ns + self.linger_ns)
        )
        self._recent.move_to_end(conn.key)
        while len(self._recent) > self.max_recent:
            self._recent.popitem(last=False)

    def _expire_recent(self, now_ns: int) -> None:
        while self._recent:
            oldest = next(iter(self._recent.values()))
            if oldest.expires_ns >= now_ns:
                return
            self._recent.popitem(last=False)

    # -- segments ------------------------------------------------------------------------

    def _segment(self, conn: Connection, seg: TcpSegment, out: list[TcpEvent]) -> None:
        if seg.src == conn.originator:
            direction, half, peer = ORIG, conn.orig, conn.resp
        else:
            direction, half, peer = RESP, conn.resp, conn.orig
            conn.resp_seen = True
        conn.last_ts = seg.ts_ns
        flags = seg.flags
        if flags & RST:
            if conn.first_rst is None:
                conn.first_rst, conn.rst_ts = direction, seg.ts_ns
            self._close(conn, seg.ts_ns, out)
            return
        data_seq = self._note_syn(conn, half, seg) if flags & SYN else seg.seq
        if half.base is None:
            half.base = data_seq
        if seg.window == 0 and not flags & (SYN | FIN):
            conn.zero_windows += 1
        self._data(conn, half, seg, data_seq, out)
        if flags & ACK and peer.base is not None:
            self._ack(peer, seg, out)
        if conn.orig.fin_delivered and conn.resp.fin_delivered:
            self._close(conn, seg.ts_ns, out)

    def _note_syn(self, conn: Connection, half: HalfStream, seg: TcpSegment) -> int:
        """Record the ISN; the first data byte follows the SYN."""
        if half.isn is None:
            half.isn = seg.seq
            if half.base is None:
                half.base = (seg.seq + 1) % (1 << 32)
        if half is conn.orig and not seg.flags & ACK:
            conn.syn_seen = True
        elif half is conn.resp and seg.flags & ACK:
            conn.synack_seen = True
        return (seg.seq + 1) % (1 << 32)

    def _data(
        self,
        conn: Connection,
        half: HalfStream,
        seg: TcpSegment,
        data_seq: int,
        out: list[TcpEvent],
    ) -> None:
        length = len(seg.payload) + seg.cut_bytes
        off = half.offset_of(data_seq)
        if _is_keepalive(half, seg, off, length):
            conn.keepalives += 1
        elif length and off - half.next_off > MAX_AHEAD:
            self.stats.bogus_segments += 1
        elif length:
            self._payload(conn, half, seg, off, out)
        if seg.flags & FIN and half.fin_off is None:
            half.fin_off = off + length
            if conn.first_fin is None:
                conn.first_fin, conn.fin_ts = half.direction, seg.ts_ns

    def _payload(
        self, conn: Connection, half: HalfStream, seg: TcpSegment, off: int, out: list[TcpEvent]
    ) -> None:
        data, missing = seg.payload, seg.cut_bytes
        if half.fin_off is not None and off + len(data) + missing > half.fin_off:
            keep = max(half.fin_off - off, 0)  # nothing is sent after a FIN
            data, missing = data[:keep], max(min(missing, keep - len(data)), 0)
        half.max_end = max(half.max_end, off + len(data) + missing)
        half.last_payload_ns = seg.ts_ns
        if not missing and half.deliver_next(off, data, seg.ts_ns, out):
            return  # the common case: in order, nothing buffered
        first, covered = half.insert(off, data, missing)
        if covered:
            half.retransmissions += 1
            out.append(Retransmitted(conn.id, half.direction, seg.ts_ns, first, covered))
        if half.pending:
            half.advance(seg.ts_ns, out)
            self._enforce_bounds(conn, half, seg.ts_ns, out)

    def _enforce_bounds(
        self, conn: Connection, half: HalfStream, ts_ns: int, out: list[TcpEvent]
    ) -> None:
        """Too much waits behind a hole: the hole is never coming, skip it as a gap."""
        while half.pending and (
            half.pending_bytes > self.gap_after
            or conn.orig.pending_bytes + conn.resp.pending_bytes > self.max_buffer
        ):
            self.stats.forced_gaps += 1
            half.skip_first_hole(ts_ns, out)

    def _ack(self, peer: HalfStream, seg: TcpSegment, out: list[TcpEvent]) -> None:
        """The segment acknowledges the peer's bytes: holes the peer got are gaps."""
        acked = peer.offset_of(seg.ack)
        if peer.fin_off is not None:
            acked = min(acked, peer.fin_off)  # the FIN's sequence number is not data
        frontier = min(acked, peer.max_end)
        if frontier > peer.next_off:
            peer.advance(seg.ts_ns, out, upto=frontier)
        if acked > peer.acked:
            peer.acked = acked
            out.append(Acked(peer.conn, peer.direction, seg.ts_ns, acked))


def connection_key(src: Endpoint, dst: Endpoint) -> Key:
    """Both directions of a 4-tuple share one key: the endpoints in order."""
    return (src, dst) if src <= dst else (dst, src)


def _last_payloads(conn: Connection) -> dict[Direction, int]:
    last = {}
    if conn.orig.last_payload_ns is not None:
        last[ORIG] = conn.orig.last_payload_ns
    if conn.resp.last_payload_ns is not None:
        last[RESP] = conn.resp.last_payload_ns
    return last


def _starts_new_connection(conn: Connection, seg: TcpSegment) -> bool:
    """A bare SYN that is not a retransmission of this connection's SYN."""
    if seg.flags & (SYN | ACK | RST) != SYN:
        return False
    return not (seg.src == conn.originator and conn.orig.isn == seg.seq)


def _is_late(recent: _Recent, seg: TcpSegment) -> bool:
    """A packet of the closed connection rather than the first of a new one."""
    flags = seg.flags
    if not flags & SYN:
        return True
    if flags & ACK:
        return seg.seq == (recent.orig_isn if seg.src == recent.originator else recent.resp_isn)
    return seg.src == recent.originator and seg.seq == recent.orig_isn


def _is_keepalive(half: HalfStream, seg: TcpSegment, off: int, length: int) -> bool:
    """seq = next - 1 with 0 or 1 byte, no SYN/FIN/RST (the classic keep-alive probe)."""
    return (
        length <= 1
        and half.max_end > 0
        and off == half.max_end - 1
        and not seg.flags & (SYN | FIN | RST)
    )


def _diagnostics(stats: ReassemblyStats, max_connections: int) -> list[Diagnostic]:
    notes = [
        (stats.late_segments, "tcp-late-segments", Severity.INFO,
         "segments arrived after their connection had closed and were ignored"),
        (stats.bogus_segments, "tcp-bogus-segments", Severity.WARNING,
         "segments lay implausibly far beyond their stream and were ignored"),
        (stats.forced_gaps, "tcp-buffer-limit", Severity.WARNING,
         "holes were skipped as gaps because too much data waited behind them"),
        (stats.evicted, "tcp-connection-limit", Severity.WARNING,
         f"connections were closed early: more than {max_connections} were open"),
    ]  # fmt: skip
    if stats.ended_truncated:
        notes.append(
            (
                stats.open_at_end,
                "tcp-open-at-truncation",
                Severity.WARNING,
                "connections were still open where the truncated capture ends",
            )
        )
    return [
        Diagnostic(code, severity, "capture", f"{count} {text}")
        for count, code, severity, text in notes
        if count
    ]

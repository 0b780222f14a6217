"""One direction of a TCP connection: sequence unwrapping, out-of-order buffer, delivery.

Offsets are unbounded integers (0 = first payload byte after the SYN, or the first byte
seen), so 32-bit sequence wraparound is handled once, in `offset_of`, by unwrapping each
sequence number relative to the delivery point.
"""

from __future__ import annotations

import bisect
from typing import Final

from analyzer.net.events import Direction, StreamData, StreamGap, TcpEvent

SEQ_MOD: Final = 1 << 32
SEQ_HALF: Final = 1 << 31

# A buffered piece: (offset, bytes, length); bytes is None for a known hole (snaplen cut).
Piece = tuple[int, bytes | None, int]


def _piece_start(piece: Piece) -> int:
    return piece[0]


class HalfStream:
    """Reassembly state of the bytes one endpoint sends."""

    __slots__ = (
        "acked",
        "base",
        "conn",
        "direction",
        "fin_off",
        "gap_bytes",
        "isn",
        "last_payload_ns",
        "max_end",
        "next_off",
        "pending",
        "pending_bytes",
        "retransmissions",
    )

    def __init__(self, conn: int, direction: Direction) -> None:
        self.conn = conn
        self.direction = direction
        self.isn: int | None = None  # sequence number of the SYN, when seen
        self.base: int | None = None  # sequence number of offset 0
        self.next_off = 0  # everything before this offset was delivered (or skipped)
        self.max_end = 0  # highest offset + length seen (the sender's frontier)
        self.acked = 0  # highest offset the peer acknowledged
        self.fin_off: int | None = None  # offset of the FIN, when seen
        self.pending: list[Piece] = []  # sorted, disjoint, all at offsets >= next_off
        self.pending_bytes = 0
        self.gap_bytes = 0
        self.retransmissions = 0
        self.last_payload_ns: int | None = None

    def offset_of(self, seq: int) -> int:
        """Stream offset of a sequence number, unwrapped around the delivery point."""
        assert self.base is not None
        delta = (seq - self.base - self.next_off) % SEQ_MOD
        if delta >= SEQ_HALF:
            delta -= SEQ_MOD
        return self.next_off + delta

    def deliver_next(self, off: int, data: bytes, ts_ns: int, out: list[TcpEvent]) -> bool:
        """Fast path: deliver `data` at once if it is exactly the next expected bytes."""
        if off != self.next_off or self.pending or not data:
            return False
        self.next_off += len(data)
        out.append(StreamData(self.conn, self.direction, ts_ns, off, data))
        return True

    def insert(self, off: int, data: bytes, missing: int) -> tuple[int, int]:
        """Buffer `data` at `off` (then `missing` lost bytes); returns (first, count) of the
        bytes that were already delivered or buffered, i.e. retransmitted."""
        first, covered = -1, 0
        for start, piece, length in ((off, data, len(data)), (off + len(data), None, missing)):
            if length <= 0:
                continue
            got_first, got = self._insert_piece(start, piece, length)
            if got and first < 0:
                first = got_first
            covered += got
        return first, covered

    def _insert_piece(self, off: int, data: bytes | None, length: int) -> tuple[int, int]:
        data_off, end = off, off + length
        first, covered = -1, 0
        if off < self.next_off:
            first, covered = off, min(end, self.next_off) - off
            off = self.next_off
        pos, new = off, []
        for p_start, _, p_len in self._overlapping(off, end):
            if p_start > pos:
                new.append(_slice(data, data_off, pos, p_start))
            overlap = min(end, p_start + p_len) - max(pos, p_start)
            if first < 0:
                first = max(pos, p_start)
            covered += overlap
            pos = p_start + p_len
        if pos < end:
            new.append(_slice(data, data_off, pos, end))
        for piece in new:
            bisect.insort(self.pending, piece, key=_piece_start)
            if piece[1] is not None:
                self.pending_bytes += piece[2]
        return first, covered

    def _overlapping(self, off: int, end: int) -> list[Piece]:
        """Buffered pieces that intersect [off, end), in order (pieces are disjoint)."""
        pending = self.pending
        i = max(bisect.bisect_right(pending, off, key=_piece_start) - 1, 0)
        found = []
        while i < len(pending) and pending[i][0] < end:
            if pending[i][0] + pending[i][2] > off:
                found.append(pending[i])
            i += 1
        return found

    def advance(self, ts_ns: int, out: list[TcpEvent], upto: int | None = None) -> None:
        """Deliver buffered bytes in order; holes before `upto` become `StreamGap`s."""
        chunks: list[bytes] = []
        chunk_start = self.next_off
        taken = 0
        pending = self.pending
        while True:
            if taken < len(pending) and pending[taken][0] == self.next_off:
                _, data, length = pending[taken]
                taken += 1
                if data is None:
                    self._flush(chunks, chunk_start, ts_ns, out)
                    self._gap(self.next_off, length, ts_ns, out)
                    chunks, chunk_start = [], self.next_off + length
                else:
                    chunks.append(data)
                    self.pending_bytes -= length
                self.next_off += length
            elif upto is not None and self.next_off < upto:
                hole_end = upto if taken >= len(pending) else min(upto, pending[taken][0])
                self._flush(chunks, chunk_start, ts_ns, out)
                self._gap(self.next_off, hole_end - self.next_off, ts_ns, out)
                self.next_off = hole_end
                chunks, chunk_start = [], hole_end
            else:
                break
        if taken:
            del pending[:taken]
        self._flush(chunks, chunk_start, ts_ns, out)

    def skip_first_hole(self, ts_ns: int, out: list[TcpEvent]) -> None:
        """Give up waiting for the oldest hole (buffer bound reached)."""
        if self.pending:
            self.advance(ts_ns, out, upto=self.pending[0][0])

    def flush_all(self, ts_ns: int, out: list[TcpEvent]) -> None:
        """Deliver everything buffered, skipping holes, up to the FIN when it is known."""
        if not self.pending and (self.fin_off is None or self.fin_off <= self.next_off):
            return  # the usual end: nothing buffered, no hole before the FIN
        ends = [p[0] + p[2] for p in self.pending[-1:]]
        if self.fin_off is not None:
            ends.append(self.fin_off)
        self.advance(ts_ns, out, upto=max(ends, default=self.next_off))

    @property
    def fin_delivered(self) -> bool:
        return self.fin_off is not None and self.next_off >= self.fin_off

    def _flush(self, chunks: list[bytes], start: int, ts_ns: int, out: list[TcpEvent]) -> None:
        if chunks:
            data = chunks[0] if len(chunks) == 1 else b"".join(chunks)
            out.append(StreamData(self.conn, self.direction, ts_ns, start, data))

    def _gap(self, off: int, length: int, ts_ns: int, out: list[TcpEvent]) -> None:
        if length > 0:
            self.gap_bytes += length
            out.append(StreamGap(self.conn, self.direction, ts_ns, off, length))


def _slice(data: bytes | None, data_off: int, start: int, end: int) -> Piece:
    """The part [start, end) of a piece whose first byte sits at `data_off`."""
    if data is None:
        return (start, None, end - start)
    return (start, data[start - data_off : end - data_off], end - start)

"""The fast path from a mapped pcap to TCP events: headers read in bulk, common case inline.

`decode_frame` is general (every link type, VLANs, IPv6 extension headers) and needs a
`Frame`, i.e. a copy of every record. Almost every packet of a real capture is the same
shape, Ethernet (or Linux cooked, or raw IP) + IPv4 without options + TCP, so this module
decodes exactly that shape for a whole batch of records at once, as arrays (numpy): the
shape checks and the shard of each frame cost no Python step per packet, and a worker
never loops over the other shards' packets at all. Every other frame (and every frame that
looks odd in any way) is copied into a `Frame` and handed to `decode_frame`, so the result
and the `DecodeStats` counts are the same as the slow path's, frame for frame.

`fast_tcp_events` goes further: the packets of a connection the reassembler already knows
are found by their raw address and port bytes (`TcpReassembler.routes`), and the common
case - the next bytes in order, or a pure ACK or FIN - is reassembled right here, with
neither `Endpoint`s nor a `TcpSegment`. Anything else becomes a `TcpSegment` for
`TcpReassembler.feed`, so the events are exactly those of the slow path, in order.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from typing import Final, NamedTuple, TypeGuard

import numpy as np

from analyzer.capture.base import Frame
from analyzer.capture.mapped import MappedPcap, RecordColumns, byte_windows
from analyzer.core import Endpoint
from analyzer.net.conn import Key
from analyzer.net.events import Acked, StreamData, TcpEvent
from analyzer.net.packet import (
    ACK,
    FIN,
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_RAW,
    LINKTYPE_RAW_12,
    LINKTYPE_SLL,
    LINKTYPE_SLL2,
    RST,
    SYN,
    DecodeStats,
    TcpSegment,
    decode_frame,
)
from analyzer.net.stream import SEQ_HALF, SEQ_MOD
from analyzer.net.tcp import Route, TcpReassembler, connection_key

# (where the ethertype sits or -1 for none, where the IP header starts) per link type
_LINK_LAYOUT = {
    LINKTYPE_ETHERNET: (12, 14),
    LINKTYPE_SLL: (14, 16),
    LINKTYPE_SLL2: (0, 20),
    LINKTYPE_RAW: (-1, 0),
    LINKTYPE_RAW_12: (-1, 0),
    LINKTYPE_IPV4: (-1, 0),
}
_MAX_CACHED_PAIRS: Final = 1 << 16  # endpoint pairs kept; the cache restarts when full
_SEQ_MASK: Final = SEQ_MOD - 1

# A direction's raw 4-tuple: the 12 bytes from the IPv4 source address to the TCP
# destination port (addresses, then ports), sliced straight from the packet.
RawKey = bytes
Shard = tuple[int, int]  # (k, n): only the 4-tuples for which `shard_of(ports) == k`
# Both directions of a connection must land in one shard, so the ports are combined with
# XOR; the multiplicative hash then spreads them, because Linux gives connecting sockets
# even ports only (a plain `% 2` would put every connection in one shard).
_SPREAD: Final = 0x9E3779B1


def shard_of(src_port: int, dst_port: int, shards: int) -> int:
    """The shard of a connection, the same for both directions."""
    return ((src_port ^ dst_port) * _SPREAD >> 16) % shards


class _EndpointCache:
    """The `Endpoint`s of each raw 4-tuple, and the reassembler's key for the pair, made
    once per 4-tuple instead of once per packet."""

    def __init__(self) -> None:
        self._pairs: dict[RawKey, tuple[Endpoint, Endpoint, Key]] = {}
        self._ips: dict[bytes, str] = {}  # a capture has few addresses, many 4-tuples

    def pair(self, raw: RawKey) -> tuple[Endpoint, Endpoint, Key]:
        """(source, destination, `TcpReassembler` key) of a raw 4-tuple."""
        found = self._pairs.get(raw)
        if found is None:
            if len(self._pairs) >= _MAX_CACHED_PAIRS:
                self._pairs.clear()
                self._ips.clear()
            new = tuple.__new__  # skips the NamedTuple's generated __new__
            src = new(Endpoint, (self._ip(raw[:4]), raw[8] << 8 | raw[9]))
            dst = new(Endpoint, (self._ip(raw[4:8]), raw[10] << 8 | raw[11]))
            found = self._pairs[raw] = (src, dst, connection_key(src, dst))
        return found

    def _ip(self, packed: bytes) -> str:
        text = self._ips.get(packed)
        if text is None:
            text = self._ips[packed] = socket.inet_ntop(socket.AF_INET, packed)
        return text


class _Rows(NamedTuple):
    """The records of a batch that a decoder must look at, as rows, and what the others
    tell: the latest time among the frames of the fast shape, and how many of those are
    the shard's.

    A row is (index, ts_ns, start, end, wire_len, fast, ip, data_at, ip_end, kept_end, seq,
    ack, flags, window). A frame not of the fast shape (`fast` False) goes to the general
    decoder whatever its shard, and only its first five fields mean anything.
    """

    rows: Iterator[tuple[int, ...]]
    latest: int
    decoded: int


_IP_SPAN: Final = 36  # from the IPv4 header's first byte to the TCP window's last


def _u16(h: np.ndarray, at: int) -> np.ndarray:
    """Column `at` and the next, big-endian, of a batch's header bytes (int64)."""
    value: np.ndarray = (h[:, at].astype(np.int64) << 8) | h[:, at + 1]
    return value


def _u32(h: np.ndarray, at: int) -> np.ndarray:
    value: np.ndarray = (_u16(h, at) << 16) | _u16(h, at + 2)
    return value


def _batch_rows(cols: RecordColumns, type_at: int, ip_at: int, shard: Shard | None) -> _Rows:
    """Read the link type field and the IPv4 and TCP headers of a whole batch at once,
    check the fast shape and the shard in bulk, and keep the rows a decoder must see: the
    shard's frames of the fast shape, and every other frame (see `_Rows`)."""
    chunk, at, start, end = cols.chunk, cols.chunk_at, cols.start, cols.end
    last = len(chunk) - 1
    ip = start + ip_at
    # Windows moved back from the chunk's end belong to frames too short for the fast
    # shape, which fail below.
    h = byte_windows(chunk, ip - at, _IP_SPAN)
    total_len, offset_byte = _u16(h, 2), h[:, 32].astype(np.int64)
    ip_end = ip + total_len
    data_at = ip + 20 + (offset_byte >> 4) * 4
    fast = (
        (ip + 40 <= end) & (h[:, 0] == 0x45) & (h[:, 9] == 6) & ((_u16(h, 6) & 0x3FFF) == 0)
        & (offset_byte >= 0x50) & (data_at <= ip_end) & (data_at <= end)
    )  # fmt: skip
    if type_at >= 0:  # the link type field must say IPv4
        kind_at = np.minimum(start - at + type_at, last - 1)
        fast &= ((chunk[kind_at].astype(np.int64) << 8) | chunk[kind_at + 1]) == 0x0800
    own = fast
    if shard is not None:  # shard_of, in bulk
        ports = _u16(h, 20) ^ _u16(h, 22)
        own = fast & ((ports * _SPREAD >> 16) % shard[1] == shard[0])
    keep = np.flatnonzero(own | ~fast)
    latest = int(cols.ts_ns[fast].max()) if fast.any() else 0
    rows = zip(
        (keep + cols.first_index).tolist(),
        *(column[keep].tolist() for column in (cols.ts_ns, start, end, cols.wire_len)),
        fast[keep].tolist(),
        *(column[keep].tolist() for column in (ip, data_at, ip_end, np.minimum(ip_end, end))),
        _u32(h, 24)[keep].tolist(),
        _u32(h, 28)[keep].tolist(),
        h[keep, 33].tolist(),
        _u16(h, 34)[keep].tolist(),
        strict=True,
    )
    return _Rows(rows, latest, int(np.count_nonzero(own)))


def _reversed(raw: RawKey) -> RawKey:
    """The raw 4-tuple of the other direction."""
    return raw[4:8] + raw[:4] + raw[10:] + raw[8:10]


def fast_segments(
    mapped: MappedPcap, stats: DecodeStats, shard: Shard | None = None
) -> Iterator[TcpSegment]:
    """The TCP segments of a mapped pcap, counted in `stats` as `decode_frame` counts.

    With `shard=(k, n)` only the segments of shard k are yielded and counted; frames that
    are not TCP are counted in shard 0, so the n shards' stats add up to the whole.
    """
    layout = _LINK_LAYOUT.get(mapped.linktype)
    if layout is None:
        for segment in _general_segments(mapped, stats, shard):
            if _in_shard(segment, shard):
                yield segment
        return
    buf, linktype = mapped.buffer, mapped.linktype
    pair = _EndpointCache().pair
    new = tuple.__new__  # skips the NamedTuple's generated __new__: several times cheaper
    for cols in mapped.column_batches():
        rows, _, decoded = _batch_rows(cols, *layout, shard)
        stats.frames += decoded
        stats.tcp += decoded
        for (
            index, ts_ns, start, end, wire_len, fast, ip, data_at, ip_end, kept_end,
            seq, ack, flags, window,
        ) in rows:  # fmt: skip
            if not fast:
                segment = _general(buf, index, ts_ns, linktype, start, end, wire_len, stats, shard)
                if _in_shard(segment, shard):
                    yield segment
                continue
            src, dst, _ = pair(buf[ip + 12 : ip + 24])
            yield new(TcpSegment, (
                index, ts_ns, src, dst, seq, ack, flags, window,
                buf[data_at:kept_end], kept_end < ip_end, ip_end - kept_end,
            ))  # fmt: skip


def fast_tcp_events(
    mapped: MappedPcap, reassembler: TcpReassembler, shard: Shard | None = None
) -> Iterator[TcpEvent]:
    """`tcp_events` for a mapped pcap, with the reassembler's common case inline.

    `shard=(k, n)`: only the connections of shard k, as `fast_segments` selects them; the
    other shards' packets only move the reassembler's clock, so that `finish` closes the
    connections left open at the same time as an unsharded run would.
    """
    layout = _LINK_LAYOUT.get(mapped.linktype)
    if layout is None:
        yield from _general_tcp_events(mapped, reassembler, shard)
        return
    buf, linktype, stats = mapped.buffer, mapped.linktype, reassembler.decode_stats
    pair = _EndpointCache().pair
    feed_raw, feed_route = reassembler.feed_raw, reassembler.feed_route
    drop_late = reassembler.drop_late
    routes_get, mark_active = reassembler.routes.get, reassembler.mark_active
    new = tuple.__new__  # skips the NamedTuple's generated __new__: several times cheaper
    latest, decoded = 0, 0  # handed over at the end: both are per packet
    try:
        for cols in mapped.column_batches():
            rows, batch_latest, batch_decoded = _batch_rows(cols, *layout, shard)
            latest = max(latest, batch_latest)
            decoded += batch_decoded
            for (
                index, ts_ns, start, end, wire_len, fast, ip, data_at, ip_end, kept_end,
                seq, ack, flags, window,
            ) in rows:  # fmt: skip
                reassembler.packet_index = index
                if not fast:
                    segment = _general(
                        buf, index, ts_ns, linktype, start, end, wire_len, stats, shard
                    )
                    yield from _general_feed(reassembler, shard, segment)
                    continue
                raw = buf[ip + 12 : ip + 24]
                route = routes_get(raw)
                length = kept_end - data_at
                if route is None or flags & (SYN | ACK | RST) == SYN:  # perhaps a new connection
                    src, dst, key = pair(raw)
                    if not (route or flags & SYN) and drop_late(key, ts_ns, flags, length > 0):
                        continue  # e.g. the last ACK, after both FINs closed the connection
                    segment = new(TcpSegment, (
                        index, ts_ns, src, dst, seq, ack, flags, window,
                        buf[data_at:kept_end], kept_end < ip_end, ip_end - kept_end,
                    ))  # fmt: skip
                    yield from feed_raw(segment, key, raw, _reversed(raw))
                    continue
                conn, half, peer, from_responder = route
                base, next_off = half.base, half.next_off
                if (
                    base is None and flags & (SYN | ACK | RST | FIN) == SYN | ACK and from_responder
                    and half.isn is None and not length and kept_end == ip_end
                ):  # fmt: skip
                    # The SYN-ACK: `TcpReassembler._note_syn` inline; the rest is a pure ACK's.
                    half.isn = seq
                    half.base = base = seq = (seq + 1) & _SEQ_MASK
                    conn.synack_seen = True
                elif base is None or flags & (SYN | RST) or kept_end < ip_end:
                    segment = _route_segment(route, index, ts_ns, seq, ack, flags, window,
                                             buf[data_at:kept_end], ip_end - kept_end)  # fmt: skip
                    yield from feed_route(route, segment)
                    continue
                delta = (seq - base - next_off) & _SEQ_MASK  # offset_of, inline
                off = next_off + delta if delta < SEQ_HALF else next_off + delta - SEQ_MOD
                if length and (
                    off != next_off or half.pending or half.fin_off is not None
                    or (length == 1 and off == half.max_end - 1 and half.max_end > 0
                        and not flags & FIN)  # a keep-alive probe
                ):  # fmt: skip
                    segment = _route_segment(route, index, ts_ns, seq, ack, flags, window,
                                             buf[data_at:kept_end], 0)  # fmt: skip
                    yield from feed_route(route, segment)
                    continue
                # -- the common case: TcpReassembler._segment for in-order data and ACKs ----
                mark_active(conn.key)
                conn.last_ts = ts_ns
                if from_responder:
                    conn.resp_seen = True
                if not window and not flags & (SYN | FIN):
                    conn.zero_windows += 1
                if length:
                    half.next_off = stop = off + length
                    if stop > half.max_end:
                        half.max_end = stop
                    half.last_payload_ns = ts_ns
                    yield new(
                        StreamData, (conn.id, half.direction, ts_ns, off, buf[data_at:kept_end])
                    )
                elif half.max_end > 0 and off == half.max_end - 1 and not flags & (SYN | FIN):
                    conn.keepalives += 1
                if flags & FIN and half.fin_off is None:
                    half.fin_off = off + length
                    if conn.first_fin is None:
                        conn.first_fin, conn.fin_ts = half.direction, ts_ns
                if flags & ACK and peer.base is not None:
                    peer_next = peer.next_off
                    delta = (ack - peer.base - peer_next) & _SEQ_MASK
                    acked = peer_next + delta if delta < SEQ_HALF else peer_next + delta - SEQ_MOD
                    if peer.fin_off is not None and peer.fin_off < acked:
                        acked = peer.fin_off  # the FIN's sequence number is not data
                    frontier = acked if acked < peer.max_end else peer.max_end
                    if frontier > peer_next:
                        out: list[TcpEvent] = []
                        peer.advance(ts_ns, out, upto=frontier)
                        yield from out
                    if acked > peer.acked:
                        peer.acked = acked
                        yield new(Acked, (conn.id, peer.direction, ts_ns, acked))
                if (
                    half.fin_off is not None and peer.fin_off is not None
                    and half.next_off >= half.fin_off and peer.next_off >= peer.fin_off
                ):  # fmt: skip
                    yield from reassembler.close(conn, ts_ns)
    finally:
        reassembler.see_time(latest)
        stats.frames += decoded
        stats.tcp += decoded


def _route_segment(
    route: Route, index: int, ts_ns: int, seq: int, ack: int, flags: int, window: int,
    payload: bytes, cut_bytes: int,
) -> TcpSegment:  # fmt: skip
    """The `TcpSegment` of a packet on a known connection (its endpoints come with it)."""
    conn, _, _, from_responder = route
    src, dst = conn.originator, conn.responder
    if from_responder:
        src, dst = dst, src
    return TcpSegment(index, ts_ns, src, dst, seq, ack, flags, window, payload, cut_bytes > 0,
                      cut_bytes)  # fmt: skip


def _in_shard(segment: TcpSegment | None, shard: Shard | None) -> TypeGuard[TcpSegment]:
    if segment is None:
        return False
    return shard is None or shard_of(segment.src.port, segment.dst.port, shard[1]) == shard[0]


def _general(
    buf: object, index: int, ts_ns: int, linktype: int, start: int, end: int, wire_len: int,
    stats: DecodeStats, shard: Shard | None,
) -> TcpSegment | None:  # fmt: skip
    """Anything unusual goes through the general decoder, with a copied `Frame`.

    With a shard, the frame is counted only if it is the shard's (see `fast_segments`),
    but its segment is returned all the same: the caller still wants its time.
    """
    data = buf[start:end]  # type: ignore[index]
    frame = Frame(index, ts_ns, linktype, bytes(data), wire_len)
    if shard is None:
        return decode_frame(frame, stats)
    own = DecodeStats()
    segment = decode_frame(frame, own)
    if _in_shard(segment, shard) or (segment is None and shard[0] == 0):
        stats.add(own)  # frames without a 4-tuple are shard 0's
    return segment


def _general_segments(
    mapped: MappedPcap, stats: DecodeStats, shard: Shard | None
) -> Iterator[TcpSegment | None]:
    buf, linktype = mapped.buffer, mapped.linktype
    for index, ts_ns, start, end, wire_len in mapped.records():
        yield _general(buf, index, ts_ns, linktype, start, end, wire_len, stats, shard)


def _general_feed(
    reassembler: TcpReassembler, shard: Shard | None, segment: TcpSegment | None
) -> list[TcpEvent]:
    """Feed a generally decoded segment if it is the shard's; only its time otherwise."""
    if _in_shard(segment, shard):
        return reassembler.feed(segment)
    if segment is not None:
        reassembler.see_time(segment.ts_ns)
    return []


def _general_tcp_events(
    mapped: MappedPcap, reassembler: TcpReassembler, shard: Shard | None
) -> Iterator[TcpEvent]:
    """`fast_tcp_events` for link types the fast decoder does not know."""
    stats = reassembler.decode_stats
    for segment in _general_segments(mapped, stats, shard):
        if segment is not None:
            reassembler.packet_index = segment.index
        yield from _general_feed(reassembler, shard, segment)

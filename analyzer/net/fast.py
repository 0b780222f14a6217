"""The fast path from a mapped pcap to TCP events: headers read in place, endpoints cached.

`decode_frame` is general (every link type, VLANs, IPv6 extension headers) and needs a
`Frame`, i.e. a copy of every record. Almost every packet of a real capture is the same
shape, Ethernet (or Linux cooked, or raw IP) + IPv4 without options + TCP, so this module
decodes exactly that shape straight from the mapped file with one `struct` call per header
and reuses the `Endpoint` pair of each 4-tuple. Every other frame (and every frame that
looks odd in any way) is copied into a `Frame` and handed to `decode_frame`, so the result
and the `DecodeStats` counts are the same as the slow path's, frame for frame.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Iterator

from analyzer.capture.base import Frame
from analyzer.capture.mapped import MappedPcap
from analyzer.core import Endpoint
from analyzer.net.events import TcpEvent
from analyzer.net.packet import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_RAW,
    LINKTYPE_RAW_12,
    LINKTYPE_SLL,
    LINKTYPE_SLL2,
    DecodeStats,
    TcpSegment,
    decode_frame,
)
from analyzer.net.tcp import TcpReassembler

# (where the ethertype sits or -1 for none, where the IP header starts) per link type
_LINK_LAYOUT = {
    LINKTYPE_ETHERNET: (12, 14),
    LINKTYPE_SLL: (14, 16),
    LINKTYPE_SLL2: (0, 20),
    LINKTYPE_RAW: (-1, 0),
    LINKTYPE_RAW_12: (-1, 0),
    LINKTYPE_IPV4: (-1, 0),
}
_IPV4 = struct.Struct("!BxH2xHxB2x4s4s")  # version/IHL, length, fragment, protocol, addrs
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window
_MAX_CACHED_PAIRS = 1 << 16  # endpoint pairs kept; the cache restarts when full

PairKey = tuple[bytes, bytes, int, int]


class _EndpointCache:
    """One (src, dst) `Endpoint` pair per 4-tuple instead of two objects per packet."""

    def __init__(self) -> None:
        self._pairs: dict[PairKey, tuple[Endpoint, Endpoint]] = {}

    def pair(self, key: PairKey) -> tuple[Endpoint, Endpoint]:
        found = self._pairs.get(key)
        if found is None:
            if len(self._pairs) >= _MAX_CACHED_PAIRS:
                self._pairs.clear()
            src_ip, dst_ip, sport, dport = key
            found = (
                Endpoint(socket.inet_ntop(socket.AF_INET, src_ip), sport),
                Endpoint(socket.inet_ntop(socket.AF_INET, dst_ip), dport),
            )
            self._pairs[key] = found
        return found


def fast_segments(
    mapped: MappedPcap, stats: DecodeStats, shard: tuple[int, int] | None = None
) -> Iterator[TcpSegment]:
    """The TCP segments of a mapped pcap, counted in `stats` as `decode_frame` counts.

    With `shard=(k, n)` only segments with `(src port ^ dst port) % n == k` (TEMPORARY)."""
    if shard is not None:
        k, n = shard
        scratch = DecodeStats()
        for seg in fast_segments(mapped, scratch):
            if (seg.src.port ^ seg.dst.port) % n == k:
                yield seg
        if k == 0:
            stats.frames += scratch.frames
            stats.tcp += scratch.tcp
        return
    layout = _LINK_LAYOUT.get(mapped.linktype)
    if layout is None:
        yield from _slow_segments(mapped, stats)
        return
    type_at, ip_at = layout
    buf, linktype = mapped.buffer, mapped.linktype
    ip_unpack, tcp_unpack, pair = _IPV4.unpack_from, _TCP.unpack_from, _EndpointCache().pair
    for index, ts_ns, start, end, wire_len in mapped.records():
        ip = start + ip_at
        if (
            ip + 40 > end  # room for IPv4 and TCP headers without options
            or (type_at >= 0 and (buf[start + type_at] != 8 or buf[start + type_at + 1] != 0))
            or buf[ip] != 0x45  # IPv4, 20-byte header
        ):
            segment = _general(buf, index, ts_ns, linktype, start, end, wire_len, stats)
            if segment is not None:
                yield segment
            continue
        _, total_len, frag, proto, src_ip, dst_ip = ip_unpack(buf, ip)
        tcp = ip + 20
        sport, dport, seq, ack, offset_byte, flags, window = tcp_unpack(buf, tcp)
        ip_end = ip + total_len
        data_at = tcp + (offset_byte >> 4) * 4
        if proto != 6 or frag & 0x3FFF or offset_byte < 0x50 or data_at > ip_end or data_at > end:
            segment = _general(buf, index, ts_ns, linktype, start, end, wire_len, stats)
            if segment is not None:
                yield segment
            continue
        stats.frames += 1
        stats.tcp += 1
        src, dst = pair((src_ip, dst_ip, sport, dport))
        kept_end = ip_end if ip_end < end else end
        yield TcpSegment(
            index, ts_ns, src, dst, seq, ack, flags, window,
            buf[data_at:kept_end], kept_end < ip_end, ip_end - kept_end,
        )  # fmt: skip


def _general(
    buf: object, index: int, ts_ns: int, linktype: int, start: int, end: int, wire_len: int,
    stats: DecodeStats,
) -> TcpSegment | None:  # fmt: skip
    """Anything unusual goes through the general decoder, with a copied `Frame`."""
    data = buf[start:end]  # type: ignore[index]
    return decode_frame(Frame(index, ts_ns, linktype, bytes(data), wire_len), stats)


def _slow_segments(mapped: MappedPcap, stats: DecodeStats) -> Iterator[TcpSegment]:
    buf, linktype = mapped.buffer, mapped.linktype
    for index, ts_ns, start, end, wire_len in mapped.records():
        segment = _general(buf, index, ts_ns, linktype, start, end, wire_len, stats)
        if segment is not None:
            yield segment


def fast_tcp_events(mapped: MappedPcap, reassembler: TcpReassembler) -> Iterator[TcpEvent]:
    """`tcp_events` for a mapped pcap: segments straight into the reassembler."""
    feed = reassembler.feed
    for segment in fast_segments(mapped, reassembler.decode_stats):
        out = feed(segment)
        if out:
            yield from out

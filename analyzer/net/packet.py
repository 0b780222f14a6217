"""Link, IP and TCP header decoding: from a captured `Frame` to a `TcpSegment`.

This is the hot path (one call per packet), so it reads headers with `struct.unpack_from`
on the frame's bytes at moving offsets instead of building dpkt objects, and copies only
the TCP payload. Anything that is not a complete, unfragmented TCP header yields None and
bumps a counter in `DecodeStats`; nothing here raises.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass, field
from typing import Final, NamedTuple

from analyzer.capture.base import Frame
from analyzer.core import Diagnostic, Endpoint, Severity

# Final: compiled (setup.py), a constant instead of a module lookup at each use, per packet.
FIN: Final = 0x01
SYN: Final = 0x02
RST: Final = 0x04
PSH: Final = 0x08
ACK: Final = 0x10
URG: Final = 0x20
ECE: Final = 0x40
CWR: Final = 0x80

LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_RAW_12 = 0, 1, 12
LINKTYPE_RAW, LINKTYPE_LOOP, LINKTYPE_SLL = 101, 108, 113
LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_SLL2 = 228, 229, 276

ETH_IPV4, ETH_IPV6 = 0x0800, 0x86DD
VLAN_TAGS = frozenset({0x8100, 0x88A8, 0x9100})
AF_INET: Final = 2
AF_INET6_VALUES = frozenset({10, 24, 28, 30})  # Linux, NetBSD/OpenBSD, FreeBSD, macOS
IPPROTO_TCP: Final = 6
IPV6_EXTENSIONS = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, dst opts...
IPV6_FRAGMENT, IPV6_AH, IPV6_NO_NEXT = 44, 51, 59

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U32_LE = struct.Struct("<I")
_IPV4 = struct.Struct("!BxHxxHxB")  # version/IHL, total length, flags/fragment, protocol
_IPV6 = struct.Struct("!4xHB")  # payload length, next header
_TCP = struct.Struct("!HHIIBBH")  # ports, seq, ack, data offset, flags, window


class TcpSegment(NamedTuple):
    """One decoded TCP segment; `payload` holds only the bytes the capture kept.

    A `NamedTuple`, not a dataclass: the fast path builds one for every packet it cannot
    handle inline, and a tuple is several times cheaper to build."""

    index: int  # type: ignore[assignment]  # frame number (hides tuple.index)
    ts_ns: int
    src: Endpoint
    dst: Endpoint
    seq: int
    ack: int
    flags: int  # bit set of FIN SYN RST PSH ACK URG ECE CWR
    window: int
    payload: bytes
    caplen_cut: bool  # the snapshot length cut the payload short
    cut_bytes: int = 0  # payload bytes the IP length promises but the capture lacks


@dataclass(slots=True)
class DecodeStats:
    """Why frames did not become segments; mutable counters, read for diagnostics."""

    frames: int = 0
    tcp: int = 0
    non_tcp: int = 0
    malformed: int = 0
    fragments: int = 0
    unsupported_link: dict[int, int] = field(default_factory=dict)
    first_malformed: int | None = None  # frame number of the first malformed frame

    def add(self, other: DecodeStats) -> None:
        """Count `other`'s frames too (e.g. to sum the stats of a sharded decode)."""
        self.frames += other.frames
        self.tcp += other.tcp
        self.non_tcp += other.non_tcp
        self.malformed += other.malformed
        self.fragments += other.fragments
        for linktype, count in other.unsupported_link.items():
            self.unsupported_link[linktype] = self.unsupported_link.get(linktype, 0) + count
        if other.first_malformed is not None and (
            self.first_malformed is None or other.first_malformed < self.first_malformed
        ):
            self.first_malformed = other.first_malformed

    def count_skip(self, skip: Exception, index: int) -> None:
        self.frames += 1
        if isinstance(skip, _NotTcp):
            self.non_tcp += 1
        elif isinstance(skip, _Fragment):
            self.fragments += 1
        else:
            self.malformed += 1
            if self.first_malformed is None:
                self.first_malformed = index

    def count_result(self, segment: TcpSegment | None, linktype: int) -> None:
        self.frames += 1
        if segment is not None:
            self.tcp += 1
        else:
            self.unsupported_link[linktype] = self.unsupported_link.get(linktype, 0) + 1

    def diagnostics(self) -> list[Diagnostic]:
        """Summary diagnostics (one per kind, not one per frame)."""
        out: list[Diagnostic] = []
        if self.malformed:
            out.append(
                Diagnostic(
                    "net-malformed",
                    Severity.WARNING,
                    f"packet {self.first_malformed}",
                    f"{self.malformed} frames had malformed or cut link/IP/TCP "
                    f"headers and were skipped (first: packet {self.first_malformed})",
                )
            )
        if self.fragments:
            out.append(
                Diagnostic(
                    "net-ip-fragments",
                    Severity.WARNING,
                    "capture",
                    f"{self.fragments} IP fragments were not reassembled; "
                    "their TCP data is missing",
                )
            )
        for linktype, count in sorted(self.unsupported_link.items()):
            out.append(
                Diagnostic(
                    "net-unsupported-link",
                    Severity.WARNING,
                    "capture",
                    f"{count} frames with unsupported link type {linktype} skipped",
                )
            )
        return out


class _Skip(Exception):
    """Internal: the frame holds no usable TCP segment (never escapes this module)."""


class _Malformed(_Skip):
    pass


class _NotTcp(_Skip):
    pass


class _Fragment(_Skip):
    pass


def decode_frame(frame: Frame, stats: DecodeStats | None = None) -> TcpSegment | None:
    """The TCP segment inside `frame`, or None (counted in `stats` when given)."""
    try:
        segment = _decode(frame)
    except _Skip as skip:
        if stats is not None:
            stats.count_skip(skip, frame.index)
        return None
    except (struct.error, IndexError, ValueError, OSError):
        if stats is not None:
            stats.count_skip(_Malformed(), frame.index)
        return None
    if stats is not None:
        stats.count_result(segment, frame.linktype)
    return segment


def _decode(frame: Frame) -> TcpSegment | None:
    """None only for an unsupported link type; other failures raise `_Skip`."""
    data = frame.data
    found = _network_start(data, frame.linktype)
    if found is None:
        return None
    ethertype, pos = found
    if ethertype == ETH_IPV4:
        return _ipv4(frame, data, pos)
    if ethertype == ETH_IPV6:
        return _ipv6(frame, data, pos)
    raise _NotTcp


def _network_start(data: bytes, linktype: int) -> tuple[int, int] | None:
    """(ethertype, offset) of the network header, or None for an unknown link type."""
    if linktype == LINKTYPE_ETHERNET:
        return _past_vlans(data, _U16.unpack_from(data, 12)[0], 14)
    if linktype in (LINKTYPE_RAW, LINKTYPE_RAW_12):
        return _by_version(data, 0), 0
    if linktype == LINKTYPE_IPV4:
        return ETH_IPV4, 0
    if linktype == LINKTYPE_IPV6:
        return ETH_IPV6, 0
    if linktype == LINKTYPE_NULL:
        return _null_family(_U32_LE.unpack_from(data, 0)[0], _U32.unpack_from(data, 0)[0]), 4
    if linktype == LINKTYPE_LOOP:
        family = _U32.unpack_from(data, 0)[0]
        return _null_family(family, family), 4
    if linktype == LINKTYPE_SLL:
        return _past_vlans(data, _U16.unpack_from(data, 14)[0], 16)
    if linktype == LINKTYPE_SLL2:
        return _past_vlans(data, _U16.unpack_from(data, 0)[0], 20)
    return None


def _past_vlans(data: bytes, ethertype: int, pos: int) -> tuple[int, int]:
    """Skip 802.1Q / QinQ tags: each is 2 bytes of TCI then the inner ethertype."""
    while ethertype in VLAN_TAGS:
        ethertype = _U16.unpack_from(data, pos + 2)[0]
        pos += 4
    return ethertype, pos


def _by_version(data: bytes, pos: int) -> int:
    version = data[pos] >> 4
    if version == 4:
        return ETH_IPV4
    if version == 6:
        return ETH_IPV6
    raise _Malformed


def _null_family(little: int, big: int) -> int:
    """BSD loopback stores the address family in the writer's byte order: try both."""
    for family in (little, big):
        if family == AF_INET:
            return ETH_IPV4
        if family in AF_INET6_VALUES:
            return ETH_IPV6
    raise _NotTcp


def _ipv4(frame: Frame, data: bytes, pos: int) -> TcpSegment:
    version_ihl, total_len, frag, proto = _IPV4.unpack_from(data, pos)
    header_len = (version_ihl & 0x0F) * 4
    if version_ihl >> 4 != 4 or header_len < 20 or len(data) < pos + header_len:
        raise _Malformed
    if total_len == 0:  # TCP segmentation offload: the sender's capture leaves it 0
        total_len = len(data) - pos
    if total_len < header_len:
        raise _Malformed
    if frag & 0x3FFF:  # more-fragments flag or a fragment offset
        raise _Fragment
    if proto != IPPROTO_TCP:
        raise _NotTcp
    src = socket.inet_ntop(socket.AF_INET, data[pos + 12 : pos + 16])
    dst = socket.inet_ntop(socket.AF_INET, data[pos + 16 : pos + 20])
    return _tcp(frame, data, pos + header_len, pos + total_len, src, dst)


def _ipv6(frame: Frame, data: bytes, pos: int) -> TcpSegment:
    payload_len, next_header = _IPV6.unpack_from(data, pos)
    if data[pos] >> 4 != 6 or len(data) < pos + 40:
        raise _Malformed
    src = socket.inet_ntop(socket.AF_INET6, data[pos + 8 : pos + 24])
    dst = socket.inet_ntop(socket.AF_INET6, data[pos + 24 : pos + 40])
    end = pos + 40 + payload_len if payload_len else len(data)  # 0: jumbogram or TSO
    pos += 40
    while next_header != IPPROTO_TCP:
        if next_header in IPV6_EXTENSIONS:
            ext_len = (data[pos + 1] + 1) * 8
        elif next_header == IPV6_AH:
            ext_len = (data[pos + 1] + 2) * 4
        elif next_header == IPV6_FRAGMENT:
            if _U16.unpack_from(data, pos + 2)[0] & 0xFFF9:  # offset or more-fragments
                raise _Fragment
            ext_len = 8
        else:
            raise _NotTcp
        next_header = data[pos]
        pos += ext_len
        if pos > end:
            raise _Malformed
    return _tcp(frame, data, pos, end, src, dst)


def _tcp(frame: Frame, data: bytes, pos: int, end: int, src: str, dst: str) -> TcpSegment:
    """The TCP header at `pos`; the IP length says the segment ends at `end`."""
    sport, dport, seq, ack, offset_byte, flags, window = _TCP.unpack_from(data, pos)
    header_len = (offset_byte >> 4) * 4
    if header_len < 20 or pos + header_len > end or pos + header_len > len(data):
        raise _Malformed
    kept_end = min(end, len(data))
    return TcpSegment(
        index=frame.index,
        ts_ns=frame.ts_ns,
        src=Endpoint(src, sport),
        dst=Endpoint(dst, dport),
        seq=seq,
        ack=ack,
        flags=flags,
        window=window,
        payload=data[pos + header_len : kept_end],
        caplen_cut=kept_end < end,
        cut_bytes=end - kept_end,
    )

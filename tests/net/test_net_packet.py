"""Link/IP/TCP decoding over every supported link type, with scapy-built frames."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.inet6 import IPv6, IPv6ExtHdrDestOpt, IPv6ExtHdrFragment, IPv6ExtHdrHopByHop
from scapy.layers.l2 import CookedLinux, CookedLinuxV2, Dot1AD, Dot1Q, Ether
from scapy.packet import Packet, Raw

from analyzer.capture.base import Frame
from analyzer.core import Endpoint
from analyzer.net.packet import ACK, FIN, PSH, SYN, DecodeStats, TcpSegment, decode_frame

TCP_PART = TCP(sport=40000, dport=8080, seq=123456, ack=654321, flags="PA", window=512)
PAYLOAD = b"GET /socket.io/?EIO=4 HTTP/1.1\r\n\r\n"
V4 = IP(src="192.168.1.10", dst="192.168.1.20") / TCP_PART / Raw(PAYLOAD)
V6 = IPv6(src="2001:db8::1", dst="2001:db8::2") / TCP_PART / Raw(PAYLOAD)


def frame(pkt: Packet | bytes, linktype: int, wire_len: int | None = None) -> Frame:
    data = bytes(pkt)
    return Frame(index=7, ts_ns=42, linktype=linktype, data=data, wire_len=wire_len or len(data))


def check_v4(seg: TcpSegment | None) -> None:
    assert seg is not None
    assert seg.src == Endpoint("192.168.1.10", 40000) and seg.dst == Endpoint("192.168.1.20", 8080)
    assert (seg.seq, seg.ack, seg.window) == (123456, 654321, 512)
    assert seg.flags == PSH | ACK and seg.payload == PAYLOAD and not seg.caplen_cut
    assert (seg.index, seg.ts_ns) == (7, 42)


def null_header(family: int, order: str) -> bytes:
    return struct.pack(order + "I", family)


@pytest.mark.parametrize(
    ("raw", "linktype"),
    [
        (Ether() / V4, 1),
        (Ether() / Dot1Q(vlan=5) / V4, 1),
        (Ether() / Dot1AD(vlan=5) / Dot1Q(vlan=7) / V4, 1),
        (null_header(2, "<") + bytes(V4), 0),
        (null_header(2, ">") + bytes(V4), 0),
        (null_header(2, ">") + bytes(V4), 108),
        (V4, 101),
        (V4, 12),
        (V4, 228),
        (CookedLinux(proto=0x0800) / V4, 113),
        (CookedLinuxV2(proto=0x0800) / V4, 276),
    ],
)
def test_ipv4_over_each_link_type(raw: Packet | bytes, linktype: int) -> None:
    check_v4(decode_frame(frame(raw, linktype)))


@pytest.mark.parametrize(
    ("raw", "linktype"),
    [
        (Ether() / V6, 1),
        (null_header(30, "<") + bytes(V6), 0),  # macOS AF_INET6
        (null_header(24, ">") + bytes(V6), 108),
        (V6, 101),
        (V6, 229),
        (CookedLinuxV2(proto=0x86DD) / V6, 276),
        (Ether() / IPv6(src="2001:db8::1", dst="2001:db8::2") / IPv6ExtHdrHopByHop()
         / IPv6ExtHdrDestOpt() / IPv6ExtHdrFragment(offset=0, m=0) / TCP_PART / Raw(PAYLOAD), 1),
    ],
)  # fmt: skip
def test_ipv6_over_link_types_and_extension_headers(raw: Packet | bytes, linktype: int) -> None:
    seg = decode_frame(frame(raw, linktype))
    assert seg is not None
    assert seg.src == Endpoint("2001:db8::1", 40000) and seg.payload == PAYLOAD


def test_ipv4_options_and_ethernet_padding() -> None:
    pkt = IP(src="192.168.1.10", dst="192.168.1.20", options=b"\x01\x01\x01\x00") / TCP_PART
    pkt = pkt / Raw(PAYLOAD)
    seg = decode_frame(frame(bytes(Ether() / pkt) + b"\x00" * 12, 1))
    check_v4(seg)
    syn = decode_frame(frame(Ether() / IP() / TCP(flags="S"), 1))  # 54 bytes, padded on wire
    assert syn is not None and syn.flags == SYN and syn.payload == b""


def test_fin_flag_constants_match_header_bits() -> None:
    seg = decode_frame(frame(IP() / TCP(flags="FA"), 101))
    assert seg is not None and seg.flags == FIN | ACK


def test_snaplen_cut_payload_is_flagged() -> None:
    data = bytes(Ether() / V4)
    seg = decode_frame(frame(data[:-10], 1, wire_len=len(data)))
    assert seg is not None and seg.caplen_cut and seg.cut_bytes == 10
    assert seg.payload == PAYLOAD[:-10]


def test_fragments_non_tcp_and_malformed_are_counted() -> None:
    stats = DecodeStats()
    frag = IP(src="1.2.3.4", dst="5.6.7.8", flags="MF") / TCP_PART / Raw(PAYLOAD)
    later = IP(src="1.2.3.4", dst="5.6.7.8", frag=3, proto=6) / Raw(b"x" * 16)
    v6frag = IPv6() / IPv6ExtHdrFragment(offset=1, m=1) / Raw(b"y" * 16)
    for raw in (frag, later, v6frag):
        assert decode_frame(frame(raw, 101), stats) is None
    assert stats.fragments == 3
    assert decode_frame(frame(IP() / UDP() / Raw(b"q"), 101), stats) is None
    assert decode_frame(frame(IP() / ICMP(), 101), stats) is None
    assert stats.non_tcp == 2
    bad_ihl = bytearray(bytes(V4))
    bad_ihl[0] = 0x43
    bad_doff = bytearray(bytes(V4))
    bad_doff[20 + 12] = 0x30
    for cut in (bytes(bad_ihl), bytes(bad_doff), bytes(V4)[:30], b""):
        assert decode_frame(frame(cut, 101), stats) is None
    assert stats.malformed == 4 and stats.first_malformed == 7
    assert decode_frame(frame(V4, 147), stats) is None
    assert stats.unsupported_link == {147: 1}
    codes = {d.code for d in stats.diagnostics()}
    assert codes == {"net-malformed", "net-ip-fragments", "net-unsupported-link"}
    assert stats.frames == 10 and stats.tcp == 0


def test_tso_zero_total_length_uses_captured_length() -> None:
    raw = bytearray(bytes(V4))
    raw[2:4] = b"\x00\x00"
    check_v4(decode_frame(frame(bytes(raw), 101)))


@settings(max_examples=200, deadline=None)
@given(
    st.sampled_from([0, 1, 12, 101, 108, 113, 228, 229, 276, 999]),
    st.binary(max_size=120),
    st.integers(0, 60),
)
def test_arbitrary_bytes_never_raise(linktype: int, tail: bytes, cut: int) -> None:
    valid = {1: bytes(Ether() / V4), 113: bytes(CookedLinux(proto=0x86DD) / V6)}
    head = valid.get(linktype, bytes(V4))[:cut]
    stats = DecodeStats()
    result = decode_frame(frame(head + tail, linktype), stats)
    assert result is None or isinstance(result, TcpSegment)
    assert stats.frames == 1

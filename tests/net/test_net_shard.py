"""Sharded fast path: n shards together give exactly the unsharded events and counts.

A sharded design runs `fast_tcp_events(..., shard=(k, n))` in n workers; each must see
every packet of its own connections and nothing else, and the decode counters of the n
shards must add up to the unsharded ones.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import pytest
from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.inet6 import IPv6
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from analyzer.capture.mapped import MappedPcap
from analyzer.capture.pcap import FrameSource
from analyzer.capture.tally import ReadTally
from analyzer.net.events import ConnectionOpened, TcpEvent
from analyzer.net.fast import fast_segments, fast_tcp_events
from analyzer.net.packet import DecodeStats
from analyzer.net.tcp import TcpReassembler

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
SOME_CAPTURES = ["many-clients.pcap", "nginx-no-sticky.pcap", "malformed.pcap", "tls-keylog.pcap"]

# A connection as every shard names it: who opened it, to whom, when.
ConnKey = tuple[object, ...]


def _events(path: str, shard: tuple[int, int] | None) -> tuple[list[TcpEvent], DecodeStats]:
    source, reassembler = FrameSource(path), TcpReassembler()
    with source.mapped(None) as mapped:
        assert mapped is not None
        events = list(fast_tcp_events(mapped, reassembler, shard))
    events += reassembler.finish(truncated=source.info.truncated)
    return events, reassembler.decode_stats


def _by_connection(events: list[TcpEvent]) -> dict[ConnKey, list[str]]:
    """Each connection's events in order, its shard-local number left out."""
    names: dict[int, ConnKey] = {}
    grouped: dict[ConnKey, list[str]] = defaultdict(list)
    for event in events:
        if isinstance(event, ConnectionOpened):
            names[event.conn] = (event.originator, event.responder, event.ts_ns)
        grouped[names[event.conn]].append(repr(event).replace(f"conn={event.conn},", ""))
    return dict(grouped)


def _mixed_capture(path: Path) -> str:
    """Several connections plus frames that are not TCP or take the general decoder."""
    packets: list[Packet] = []
    for port in range(40000, 40012):
        c = Ether() / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=port, dport=3000)
        s = Ether() / IP(src="10.0.0.2", dst="10.0.0.1") / TCP(sport=3000, dport=port)
        packets += [
            c.copy() / TCP(sport=port, dport=3000, flags="S", seq=1),
            s.copy() / TCP(sport=3000, dport=port, flags="SA", seq=9, ack=2),
            Ether() / IP(src="10.0.0.1", dst="10.0.0.2")
            / TCP(sport=port, dport=3000, flags="PA", seq=2, ack=10) / Raw(b"hello"),
            Ether() / IP(src="10.0.0.1", dst="10.0.0.2", options=b"\x01\x01\x01\x01")
            / TCP(sport=port, dport=3000, flags="PA", seq=7, ack=10) / Raw(b"!"),
        ]  # fmt: skip
        packets += [
            Ether() / IP(src="10.0.0.1", dst="10.0.0.3") / UDP(sport=port, dport=53),
            Ether() / IP(src="10.0.0.1", dst="10.0.0.2", flags="MF") / Raw(b"x" * 30),
            Ether() / IPv6(src="fe80::1", dst="fe80::2")
            / TCP(sport=port, dport=443, flags="PA", seq=5) / Raw(b"v6"),
            Ether(type=0x0800) / Raw(b"\x45\x00"),
        ]  # fmt: skip
    for n, packet in enumerate(packets):
        packet.time = 1_700_000_000 + n / 100
    wrpcap(str(path), packets)
    return str(path)


def _check_shards_add_up(path: str, n: int) -> None:
    whole, whole_stats = _events(path, None)
    union: dict[ConnKey, list[str]] = {}
    summed = DecodeStats()
    for k in range(n):
        events, stats = _events(path, (k, n))
        part = _by_connection(events)
        assert not part.keys() & union.keys()  # a connection lives in one shard only
        union.update(part)
        summed.add(stats)
    assert union == _by_connection(whole)
    assert summed == whole_stats


@pytest.mark.parametrize("name", SOME_CAPTURES)
@pytest.mark.parametrize("n", [1, 2, 3])
def test_shards_of_committed_captures_add_up(name: str, n: int) -> None:
    _check_shards_add_up(str(CAPTURES / name), n)


@pytest.mark.parametrize("n", [2, 3])
def test_shards_add_up_with_odd_and_non_tcp_frames(tmp_path: Path, n: int) -> None:
    path = _mixed_capture(tmp_path / "mixed.pcap")
    _check_shards_add_up(path, n)
    whole = DecodeStats()
    list(fast_segments(_mapped(path), whole))
    assert whole.non_tcp and whole.fragments and whole.malformed  # the odd frames are there
    zero, one = DecodeStats(), DecodeStats()
    list(fast_segments(_mapped(path), zero, (0, 2)))
    list(fast_segments(_mapped(path), one, (1, 2)))
    assert one.non_tcp == one.fragments == one.malformed == 0  # all in shard 0


def _mapped(path: str) -> MappedPcap:
    return MappedPcap(Path(path).read_bytes(), ReadTally())

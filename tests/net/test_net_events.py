"""`tcp_events`: frames from a scapy-written pcap through decoding and reassembly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from scapy.layers.inet import IP, TCP, UDP
from scapy.layers.l2 import Ether
from scapy.packet import Packet, Raw
from scapy.utils import wrpcap

from analyzer.capture import open_frames
from analyzer.net import TcpReassembler, tcp_events
from analyzer.net.events import ConnectionClosed, ConnectionOpened, Direction, StreamData
from analyzer.transport import TcpEnd


def conversation() -> list[Packet]:
    c = Ether() / IP(src="10.1.1.1", dst="10.1.1.2")
    s = Ether() / IP(src="10.1.1.2", dst="10.1.1.1")

    def cp(**fields: Any) -> Packet:
        return c / TCP(sport=51000, dport=3000, **fields)

    def sp(**fields: Any) -> Packet:
        return s / TCP(sport=3000, dport=51000, **fields)

    pkts = [
        cp(flags="S", seq=10),
        sp(flags="SA", seq=90, ack=11),
        cp(flags="A", seq=11, ack=91),
        c / UDP(sport=5353, dport=5353) / Raw(b"mdns"),
        cp(flags="PA", seq=16, ack=91) / Raw(b"world"),  # out of order
        cp(flags="PA", seq=11, ack=91) / Raw(b"hello"),
        sp(flags="PA", seq=91, ack=21) / Raw(b"ok"),
        sp(flags="RA", seq=93, ack=21),
    ]  # fmt: skip
    for i, p in enumerate(pkts):
        p.time = 1_700_000_000 + i / 10
    return pkts


def test_pcap_to_tcp_events(tmp_path: Path) -> None:
    path = tmp_path / "conv.pcap"
    wrpcap(str(path), conversation())
    reassembler = TcpReassembler()
    source = open_frames(path)
    events = list(tcp_events(source, reassembler))
    events += reassembler.finish(source.info.truncated)
    opened = [e for e in events if isinstance(e, ConnectionOpened)]
    assert len(opened) == 1 and opened[0].originator.port == 51000
    data = [e for e in events if isinstance(e, StreamData)]
    assert [(d.direction, d.data) for d in data] == [
        (Direction.ORIGINATOR, b"helloworld"),
        (Direction.RESPONDER, b"ok"),
    ]
    assert data[0].ts_ns == 1_700_000_000_500_000_000
    (closed,) = [e for e in events if isinstance(e, ConnectionClosed)]
    assert closed.end is TcpEnd.RESET_BY_SERVER
    assert reassembler.decode_stats.non_tcp == 1 and reassembler.decode_stats.tcp == 7
    assert reassembler.diagnostics == []

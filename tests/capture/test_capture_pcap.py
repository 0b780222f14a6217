"""Classic pcap reading: byte orders, resolutions, snaplen, truncation, corruption."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.packet import Raw
from scapy.utils import wrpcap

from analyzer.capture import Frame, open_frames
from analyzer.errors import SioscopeError

PACKETS = [bytes(Ether() / IP() / TCP(seq=i) / Raw(b"x" * i)) for i in range(3)]


def pcap_bytes(order: str, nano: bool, records: list[tuple[int, int, bytes, int]],
               linktype: int = 1) -> bytes:  # fmt: skip
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, 65535, linktype)]
    for sec, frac, data, wire_len in records:
        out.append(struct.pack(order + "IIII", sec, frac, len(data), wire_len) + data)
    return b"".join(out)


def read_all(path: Path) -> tuple[list[Frame], object]:
    source = open_frames(path)
    frames = list(source)
    return frames, source


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("nano", [False, True])
def test_byte_orders_and_resolutions(tmp_path: Path, order: str, nano: bool) -> None:
    frac = 123456789 if nano else 123456
    path = tmp_path / "t.pcap"
    path.write_bytes(pcap_bytes(order, nano, [(1700000000, frac, p, len(p)) for p in PACKETS],
                                linktype=1 | 0x10000000))  # FCS bits in the upper half  # fmt: skip
    source = open_frames(path)
    frames = list(source)
    expected_ns = 1700000000_000_000_000 + (frac if nano else frac * 1000)
    assert [f.ts_ns for f in frames] == [expected_ns] * 3
    assert [f.data for f in frames] == PACKETS and [f.index for f in frames] == [1, 2, 3]
    assert all(f.linktype == 1 for f in frames)
    info = source.info
    assert info.packets == 3 and not info.truncated and info.bytes == path.stat().st_size
    assert info.first_ts_ns == expected_ns and source.diagnostics == []


def test_scapy_written_capture(tmp_path: Path) -> None:
    pkts = [Ether(p) for p in PACKETS]
    for i, p in enumerate(pkts):
        p.time = 1700000000 + i
    wrpcap(str(tmp_path / "s.pcap"), pkts)
    frames = list(open_frames(tmp_path / "s.pcap"))
    assert [f.ts_ns for f in frames] == [1700000000_000_000_000 + i * 10**9 for i in range(3)]


def test_snaplen_cut_is_not_truncation(tmp_path: Path) -> None:
    path = tmp_path / "cut.pcap"
    path.write_bytes(pcap_bytes("<", False, [(1, 0, PACKETS[2][:40], len(PACKETS[2]))]))
    source = open_frames(path)
    frames = list(source)
    assert frames[0].wire_len == len(PACKETS[2]) and len(frames[0].data) == 40
    assert not source.info.truncated
    assert [d.code for d in source.diagnostics] == ["capture-snaplen"]


def test_truncation_at_every_byte_offset(tmp_path: Path) -> None:
    full = pcap_bytes("<", False, [(1, i, p, len(p)) for i, p in enumerate(PACKETS)])
    ends = [24]
    for p in PACKETS:
        ends.append(ends[-1] + 16 + len(p))
    for cut in range(1, len(full)):
        path = tmp_path / f"cut{cut}.pcap"
        path.write_bytes(full[:cut])
        source = open_frames(path)
        frames = list(source)
        complete = sum(1 for e in ends[1:] if e <= cut)
        assert [f.data for f in frames] == PACKETS[:complete]
        at_boundary = cut in ends
        assert source.info.truncated is not at_boundary, cut
        if not at_boundary:
            (diag,) = source.diagnostics
            assert diag.code == "capture-truncated"
            assert f"packet {complete + 1}" in diag.message and "byte offset" in diag.message


@pytest.mark.parametrize(
    ("caplen", "wire_len"), [(300 * 1024 * 1024, 300 * 1024 * 1024), (100, 50)]
)
def test_absurd_lengths_stop_as_corruption(tmp_path: Path, caplen: int, wire_len: int) -> None:
    good = pcap_bytes("<", False, [(1, 0, PACKETS[0], len(PACKETS[0]))])
    path = tmp_path / "bad.pcap"
    path.write_bytes(good + struct.pack("<IIII", 2, 0, caplen, wire_len) + b"z" * 100)
    source = open_frames(path)
    assert [f.data for f in source] == [PACKETS[0]]
    assert source.info.truncated
    (diag,) = source.diagnostics
    assert diag.code == "capture-corrupt" and "packet 2" in diag.message
    assert f"byte offset {24 + 16 + len(PACKETS[0])}" in diag.message


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.binary(max_size=400), st.booleans())
def test_random_bytes_after_header_raise_nothing_else(
    tmp_path: Path, tail: bytes, nano: bool
) -> None:
    path = tmp_path / "rand.pcap"
    path.write_bytes(pcap_bytes("<", nano, []) + tail)
    try:
        source = open_frames(path)
        frames = list(source)
    except SioscopeError:
        return
    assert source.info.packets == len(frames)

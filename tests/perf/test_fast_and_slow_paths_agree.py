"""The mapped fast path and the general frame-by-frame path must give the same answers.

The fast path (`analyzer.capture.mapped` + `analyzer.net.fast`) decodes the common shape
of packet in place and hands everything else to `decode_frame`; these tests hold it to the
slow path on every committed capture (whole JSON report), on crafted odd frames (segment by
segment, with the decode counters) and on arbitrary bytes (same tally, nothing but
`SioscopeError`).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import analyze
from analyzer.capture.mapped import PROGRESS_EVERY, MappedPcap
from analyzer.capture.pcap import read_pcap
from analyzer.capture.tally import ReadTally
from analyzer.errors import SioscopeError
from analyzer.net.events import TcpEvent
from analyzer.net.fast import fast_segments, fast_tcp_events
from analyzer.net.packet import DecodeStats, TcpSegment, decode_frame
from analyzer.net.tcp import TcpReassembler
from analyzer.report.jsonreport import report_dict

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
PACKET_CAPTURES = sorted(p for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng"))


def _report(capture: Path, *, slow: bool) -> str:
    return json.dumps(report_dict(analyze(str(capture), slow_path=slow)), sort_keys=True)


@pytest.mark.parametrize("capture", PACKET_CAPTURES, ids=lambda p: p.name)
def test_reports_are_identical(capture: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Slow path, fast path in one process, fast path with decoding in a second process."""
    monkeypatch.setenv("SIOSCOPE_PARALLEL", "0")
    slow = _report(capture, slow=True)
    assert _report(capture, slow=False) == slow
    monkeypatch.setenv("SIOSCOPE_PARALLEL", "1")
    assert _report(capture, slow=False) == slow


def test_environment_selects_the_slow_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The switch must reach the decoder: the slow path never calls the fast one."""
    calls: list[int] = []

    def spy(mapped: MappedPcap, reassembler: TcpReassembler) -> Iterator[TcpEvent]:
        calls.append(1)
        return fast_tcp_events(mapped, reassembler)

    monkeypatch.setattr("analyzer.net.fast.fast_tcp_events", spy)  # imported where used
    monkeypatch.setenv("SIOSCOPE_PARALLEL", "0")
    pcap = str(next(p for p in PACKET_CAPTURES if p.suffix == ".pcap"))
    monkeypatch.setenv("SIOSCOPE_SLOW_PATH", "1")
    analyze(pcap)
    assert not calls
    monkeypatch.setenv("SIOSCOPE_SLOW_PATH", "0")
    analyze(pcap)
    assert calls


# -- crafted frames ---------------------------------------------------------------------


def _pcap(frames: list[bytes], linktype: int = 1, cut_last: int = 0) -> bytes:
    out = bytearray(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, linktype))
    for n, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000 + n, n * 10, len(frame), len(frame) + n % 2)
        out += frame
    return bytes(out[: len(out) - cut_last])


def _tcp(flags: int = 0x10, payload: bytes = b"", offset_words: int = 5) -> bytes:
    options = b"\x01" * ((offset_words - 5) * 4)
    header = struct.pack("!HHIIBBHHH", 40000, 3000, 1000, 2000, offset_words << 4, flags, 512, 0, 0)
    return header + options + payload


def _ipv4(
    tcp: bytes, *, ihl: int = 5, frag: int = 0, proto: int = 6, total: int | None = None
) -> bytes:
    options = b"\x01" * ((ihl - 5) * 4)
    length = 20 + len(options) + len(tcp) if total is None else total
    head = struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, 0, length, 1, frag, 64, proto, 0,
                       bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))  # fmt: skip
    return head + options + tcp


def _ipv6(tcp: bytes) -> bytes:
    head = struct.pack("!IHBB16s16s", 6 << 28, len(tcp), 6, 64, b"\x20" + b"\0" * 14 + b"\1",
                       b"\x20" + b"\0" * 14 + b"\2")  # fmt: skip
    return head + tcp


def _eth(payload: bytes, ethertype: int = 0x0800, vlan: bool = False) -> bytes:
    tag = struct.pack("!HH", 0x8100, 7) if vlan else b""
    return b"\x02" * 6 + b"\x04" * 6 + tag + struct.pack("!H", ethertype) + payload


ODD_FRAMES = [
    _eth(_ipv4(_tcp(0x18, b"GET / HTTP/1.1\r\n\r\n"))),  # the common shape
    _eth(_ipv4(_tcp(0x12, offset_words=8))),  # TCP options
    _eth(_ipv4(_tcp(0x18, b"abc"), ihl=6)),  # IP options
    _eth(_ipv4(_tcp(0x18, b"abc"), frag=0x2000)),  # more fragments
    _eth(_ipv4(_tcp(0x18, b"abc"), proto=17)),  # UDP
    _eth(_ipv4(_tcp(0x18, b"abcdef"), total=0)),  # TSO: length left 0
    _eth(_ipv4(_tcp(0x18, b"abcdef"), total=90)),  # IP length beyond the capture
    _eth(_ipv4(_tcp(0x18, b"abcdef"), total=30)),  # IP length inside the TCP header
    _eth(_ipv4(_tcp(0x18, b"abc"))) + b"\0" * 8,  # Ethernet padding
    _eth(_ipv4(_tcp(0x10, offset_words=3))),  # TCP header too short
    _eth(_ipv4(_tcp(0x18, b"xy")), vlan=True),
    _eth(_ipv6(_tcp(0x18, b"v6")), ethertype=0x86DD),
    _eth(b"\x45\x00"),  # cut IP header
    _eth(b"", ethertype=0x0806),  # ARP
    b"\x02" * 10,  # cut Ethernet header
]


def _via_fast(data: bytes) -> tuple[list[TcpSegment], DecodeStats, ReadTally]:
    tally, stats = ReadTally(), DecodeStats()
    segments = list(fast_segments(MappedPcap(data, tally), stats))
    return segments, stats, tally


def _via_slow(data: bytes) -> tuple[list[TcpSegment], DecodeStats, ReadTally]:
    tally, stats = ReadTally(), DecodeStats()
    frames = list(read_pcap(io.BytesIO(data), tally))
    segments = [s for f in frames if (s := decode_frame(f, stats)) is not None]
    return segments, stats, tally


def _tally_view(tally: ReadTally) -> tuple[object, ...]:
    return (tally.packets, tally.first_ts_ns, tally.last_ts_ns, tally.truncated,
            tally.snaplen_cut, tally.offset, tally.diagnostics)  # fmt: skip


@pytest.mark.parametrize("linktype", [1, 101, 113])
@pytest.mark.parametrize("cut_last", [0, 3, 30])
def test_odd_frames_decode_alike(linktype: int, cut_last: int) -> None:
    frames = ODD_FRAMES
    if linktype == 101:  # raw IP: strip the Ethernet header
        frames = [f[14:] for f in ODD_FRAMES]
    elif linktype == 113:  # Linux cooked: 16-byte header, ethertype last
        frames = [b"\0" * 14 + f[12:] for f in ODD_FRAMES]
    data = _pcap(frames, linktype, cut_last)
    fast, fast_stats, fast_tally = _via_fast(data)
    slow, slow_stats, slow_tally = _via_slow(data)
    assert fast == slow
    assert fast_stats == slow_stats
    assert _tally_view(fast_tally) == _tally_view(slow_tally)
    assert len(fast) >= 3  # the crafted common frames really decoded


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.sampled_from(ODD_FRAMES), max_size=6), st.binary(max_size=64), st.integers(0, 40)
)
def test_arbitrary_records_agree(frames: list[bytes], junk: bytes, cut: int) -> None:
    data = _pcap([*frames, junk], 1, cut)
    try:
        fast = _via_fast(data)
    except SioscopeError:
        return
    slow = _via_slow(data)
    assert fast[0] == slow[0] and fast[1] == slow[1]
    assert _tally_view(fast[2]) == _tally_view(slow[2])


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_file_bytes_raise_nothing_unexpected(data: bytes) -> None:
    try:
        segments, _, tally = _via_fast(data)
    except SioscopeError:
        return
    assert tally.packets >= len(segments)


@pytest.mark.parametrize(
    "corrupt_at", [None, PROGRESS_EVERY - 1, PROGRESS_EVERY, 2 * PROGRESS_EVERY]
)
@pytest.mark.parametrize("cut_last", [0, 7])
def test_walks_across_batches_agree(corrupt_at: int | None, cut_last: int) -> None:
    """The mapped walk reads records a batch at a time: batch edges change nothing, and a
    corrupt record ends the walk where it is, on either side of an edge."""
    frames = (ODD_FRAMES * (2 * PROGRESS_EVERY // len(ODD_FRAMES) + 2))[: 2 * PROGRESS_EVERY + 9]
    data = bytearray(_pcap(frames, 1, cut_last))
    if corrupt_at is not None:  # a caplen beyond the wire length: corrupt
        at = 24 + sum(16 + len(f) for f in frames[:corrupt_at])
        data[at + 8 : at + 12] = struct.pack("<I", 70_000)
    fast, fast_stats, fast_tally = _via_fast(bytes(data))
    slow, slow_stats, slow_tally = _via_slow(bytes(data))
    assert (fast, fast_stats) == (slow, slow_stats)
    assert _tally_view(fast_tally) == _tally_view(slow_tally)
    whole = len(frames) - (1 if cut_last else 0)  # a cut last record is not counted
    assert fast_tally.packets == (corrupt_at if corrupt_at is not None else whole)


@pytest.mark.parametrize("whole", [PROGRESS_EVERY - 1, PROGRESS_EVERY, PROGRESS_EVERY + 1])
def test_a_record_header_cut_next_to_a_batch_edge_is_reported_alike(whole: int) -> None:
    frames = (ODD_FRAMES * (PROGRESS_EVERY // len(ODD_FRAMES) + 2))[: whole + 1]
    data = _pcap(frames, 1, cut_last=len(frames[-1]) + 16 - 5)  # 5 bytes of the last header
    fast_tally, slow_tally = _via_fast(data)[2], _via_slow(data)[2]
    assert _tally_view(fast_tally) == _tally_view(slow_tally)
    assert (fast_tally.packets, fast_tally.truncated) == (whole, True)


@pytest.mark.parametrize("claimed", [70_000, 200_000_000, 0xFFFFFFFF])
def test_a_corrupt_length_copies_no_more_than_its_header(claimed: int) -> None:
    """A batch copies the bytes its records lie in; a record whose length runs past the end
    of the file ends the walk, and only its header is copied, whatever it claims."""
    good = ODD_FRAMES[0]
    data = bytearray(_pcap([good, good, b"\0" * 64]))
    third = 24 + 2 * (16 + len(good))
    data[third + 8 : third + 16] = struct.pack("<II", claimed, claimed)
    mapped = MappedPcap(bytes(data), ReadTally())
    [batch] = list(mapped.column_batches())
    assert len(batch.start) == 2
    assert len(batch.chunk) == third + 16 - 24
    assert mapped.tally.truncated or mapped.tally.diagnostics

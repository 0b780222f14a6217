"""pcapng reading with hand-built blocks: interfaces, resolutions, sections, truncation."""

from __future__ import annotations

import struct
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from scapy.layers.inet import IP, TCP
from scapy.layers.l2 import Ether
from scapy.utils import PcapNgWriter

from analyzer.capture import open_frames
from analyzer.errors import SioscopeError

ETH = bytes(Ether() / IP() / TCP())
RAW = bytes(IP() / TCP(sport=1))


def block(order: str, block_type: int, body: bytes) -> bytes:
    body += b"\x00" * (-len(body) % 4)
    total = len(body) + 12
    return struct.pack(order + "II", block_type, total) + body + struct.pack(order + "I", total)


def option(order: str, code: int, value: bytes) -> bytes:
    return struct.pack(order + "HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def shb(order: str) -> bytes:
    return block(order, 0x0A0D0D0A, struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(order: str, linktype: int, tsresol: int | None = None, tsoffset: int = 0) -> bytes:
    opts = b""
    if tsresol is not None:
        opts += option(order, 9, bytes([tsresol]))
    if tsoffset:
        opts += option(order, 14, struct.pack(order + "q", tsoffset))
    if opts:
        opts += struct.pack(order + "HH", 0, 0)
    return block(order, 1, struct.pack(order + "HHI", linktype, 0, 0) + opts)


def epb(order: str, iface: int, ts: int, data: bytes, wire_len: int | None = None) -> bytes:
    head = struct.pack(order + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       wire_len if wire_len is not None else len(data))  # fmt: skip
    return block(order, 6, head + data)


def old_pb(order: str, iface: int, ts: int, data: bytes) -> bytes:
    head = struct.pack(order + "HHIIII", iface, 0, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return block(order, 2, head + data)


def spb(order: str, data: bytes) -> bytes:
    return block(order, 3, struct.pack(order + "I", len(data)) + data)


SECOND = 1_700_000_000
SAMPLE = b"".join([
    shb("<"),
    idb("<", 1),  # default: microseconds
    idb("<", 101, tsresol=9),  # nanoseconds
    idb("<", 1, tsresol=0x80 | 10, tsoffset=100),  # 2^-10 s units, +100 s
    epb("<", 0, SECOND * 10**6 + 5, ETH),
    epb("<", 1, SECOND * 10**9 + 7, RAW),
    epb("<", 2, SECOND * 1024 + 512, ETH[:20], wire_len=len(ETH)),
    block("<", 0x00000BAD, b"custom"),
    block("<", 5, b"\x00" * 8),  # interface statistics: skipped quietly
    old_pb("<", 1, SECOND * 10**9 + 9, RAW),
    spb("<", ETH),
    shb(">"),  # a second section, big-endian, with its own interfaces
    idb(">", 113, tsresol=3),
    epb(">", 0, SECOND * 1000 + 250, b"sll-bytes"),
])  # fmt: skip


def test_interfaces_resolutions_sections(tmp_path: Path) -> None:
    path = tmp_path / "multi.pcapng"
    path.write_bytes(SAMPLE)
    source = open_frames(path)
    frames = list(source)
    assert [f.linktype for f in frames] == [1, 101, 1, 101, 1, 113]
    assert [f.index for f in frames] == [1, 2, 3, 4, 5, 6]
    assert frames[0].ts_ns == SECOND * 10**9 + 5000
    assert frames[1].ts_ns == SECOND * 10**9 + 7
    assert frames[2].ts_ns == (SECOND + 100) * 10**9 + 500_000_000
    assert frames[2].wire_len == len(ETH) and frames[2].data == ETH[:20]
    assert frames[3].ts_ns == SECOND * 10**9 + 9 and frames[3].data == RAW
    assert frames[4].ts_ns == frames[3].ts_ns and frames[4].data == ETH  # SPB: previous time
    assert frames[5].ts_ns == SECOND * 10**9 + 250_000_000 and frames[5].data == b"sll-bytes"
    info = source.info
    assert info.packets == 6 and not info.truncated
    codes = sorted(d.code for d in source.diagnostics)
    assert codes == ["capture-snaplen", "pcapng-simple-packet", "pcapng-unknown-block"]


def test_unknown_interface_is_skipped_with_diagnostic(tmp_path: Path) -> None:
    path = tmp_path / "iface.pcapng"
    path.write_bytes(shb("<") + idb("<", 1) + epb("<", 3, 0, ETH) + epb("<", 0, 0, ETH))
    source = open_frames(path)
    assert [f.index for f in source] == [2]
    assert [d.code for d in source.diagnostics] == ["pcapng-unknown-interface"]


def test_scapy_written_pcapng(tmp_path: Path) -> None:
    writer = PcapNgWriter(str(tmp_path / "s.pcapng"))
    pkt = Ether(ETH)
    pkt.time = SECOND
    writer.write(pkt)
    writer.close()
    frames = list(open_frames(tmp_path / "s.pcapng"))
    assert len(frames) == 1 and frames[0].ts_ns == SECOND * 10**9 and frames[0].data == ETH


def test_truncation_at_every_byte_offset(tmp_path: Path) -> None:
    blocks = [shb("<"), idb("<", 1), epb("<", 0, 1, ETH), epb("<", 0, 2, RAW), idb("<", 101),
              epb("<", 1, 3, RAW)]  # fmt: skip
    full = b"".join(blocks)
    ends, packets_before = [], []
    pos, count = 0, 0
    for b in blocks:
        pos += len(b)
        count += b[0] == 6
        ends.append(pos)
        packets_before.append(count)
    for cut in range(1, len(full)):
        path = tmp_path / f"cut{cut}.pcapng"
        path.write_bytes(full[:cut])
        source = open_frames(path)
        frames = list(source)
        complete = max([n for e, n in zip(ends, packets_before, strict=True) if e <= cut],
                       default=0)  # fmt: skip
        assert len(frames) == complete, cut
        assert [f.data for f in frames] == [ETH, RAW, RAW][:complete]
        assert source.info.truncated is (cut not in ends), cut
        if cut not in ends:
            assert [d.code for d in source.diagnostics] == ["capture-truncated"]
            assert "byte offset" in source.diagnostics[0].message


def test_corrupt_lengths(tmp_path: Path) -> None:
    good = shb("<") + idb("<", 1) + epb("<", 0, 1, ETH)
    bad_trailer = bytearray(epb("<", 0, 2, ETH))
    bad_trailer[-4:] = b"\x10\x00\x00\x00"
    bad_caplen = epb("<", 0, 2, ETH, wire_len=10)
    for tail in (bytes(bad_trailer), bad_caplen, struct.pack("<II", 6, 13) + b"\x00" * 40):
        path = tmp_path / "bad.pcapng"
        path.write_bytes(good + tail + epb("<", 0, 3, ETH))
        source = open_frames(path)
        assert [f.data for f in source] == [ETH]
        assert source.info.truncated
        assert [d.code for d in source.diagnostics] == ["capture-corrupt"]


@settings(max_examples=100, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.binary(max_size=400))
def test_random_bytes_after_header_raise_nothing_else(tmp_path: Path, tail: bytes) -> None:
    path = tmp_path / "rand.pcapng"
    path.write_bytes(shb("<") + idb("<", 1) + tail)
    try:
        source = open_frames(path)
        frames = list(source)
    except SioscopeError:
        return
    assert source.info.packets == len(frames)

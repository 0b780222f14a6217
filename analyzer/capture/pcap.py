"""Packet capture files: `open_frames` for pcap and pcapng, and the classic pcap reader.

Classic libpcap files come in both byte orders, with microsecond or nanosecond stamps.

Read with `struct`, not `dpkt.pcap.Reader`: dpkt stops silently on a record cut by the end
of the file and cannot say where, and it trusts absurd record lengths. Here a cut record or
header sets `truncated` with a diagnostic naming the byte offset and packet number, and a
nonsense length is treated as corruption.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

from analyzer.capture.base import CaptureFormat, CaptureInfo, Frame
from analyzer.capture.pcapng import read_pcapng
from analyzer.capture.sniff import PCAP_MAGICS, sniff_file
from analyzer.capture.tally import (
    GLOBAL_HEADER_LEN,
    LINKTYPE_MASK,
    RECORD_HEADER_LEN,
    ReadTally,
    read_up_to,
    record_length_problem,
)
from analyzer.core import Diagnostic
from analyzer.errors import InputError

if TYPE_CHECKING:  # the mapped reader loads numpy: only a fast-path read imports it
    from analyzer.capture.mapped import MappedPcap, Progress


def read_pcap(stream: BinaryIO, tally: ReadTally) -> Iterator[Frame]:
    """Yield the frames of a pcap stream positioned at its first byte."""
    header = read_up_to(stream, GLOBAL_HEADER_LEN)
    if len(header) < GLOBAL_HEADER_LEN or header[:4] not in PCAP_MAGICS:
        tally.cut_short(len(header), 1, "the file header")
        return
    order, nano = PCAP_MAGICS[header[:4]]
    (network,) = struct.unpack_from(order + "I", header, 20)
    linktype = network & LINKTYPE_MASK
    frac_to_ns = 1 if nano else 1000
    record = struct.Struct(order + "IIII")
    offset = GLOBAL_HEADER_LEN
    index = 0
    while True:
        head = read_up_to(stream, RECORD_HEADER_LEN)
        if not head:
            return
        index += 1
        if len(head) < RECORD_HEADER_LEN:
            tally.cut_short(offset, index, "the record header")
            return
        sec, frac, caplen, wire_len = record.unpack(head)
        problem = record_length_problem(caplen, wire_len)
        if problem:
            tally.corrupt(offset, index, problem)
            return
        data = read_up_to(stream, caplen)
        if len(data) < caplen:
            tally.cut_short(offset, index, "the packet data")
            return
        yield tally.frame(index, sec * 1_000_000_000 + frac * frac_to_ns, linktype, data, wire_len)
        offset += RECORD_HEADER_LEN + caplen
        tally.offset = offset


READ_BUFFER = 1 << 20


class FrameSource:
    """Iterable of `Frame` read lazily from a pcap or pcapng file.

    The file is open only while it is iterated and read record by record, so memory does
    not grow with the capture; `info` and `diagnostics` are complete after iteration.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.format = sniff_file(self.path)
        if self.format is CaptureFormat.HAR:
            raise InputError("a HAR file holds no packets; use the HAR reader", path=self.path)
        self.size = _file_size(self.path)
        self._tally = ReadTally()

    @property
    def offset(self) -> int:
        """Bytes of the file consumed so far (for progress bars)."""
        return self._tally.offset

    def __iter__(self) -> Iterator[Frame]:
        self._tally = tally = ReadTally()
        reader = read_pcap if self.format is CaptureFormat.PCAP else read_pcapng
        try:
            with open(self.path, "rb", buffering=READ_BUFFER) as stream:
                yield from reader(stream, tally)
        except OSError as exc:
            raise InputError(f"cannot read file: {exc.strerror}", path=self.path) from exc
        finally:
            tally.close()

    @contextmanager
    def mapped(self, progress: Progress | None = None) -> Iterator[MappedPcap | None]:
        """The fast path's view of a classic pcap file (None for pcapng: use iteration).

        Like iteration, it resets the tally, so `info` and `diagnostics` describe the walk.
        """
        if self.format is not CaptureFormat.PCAP:
            yield None
            return
        from analyzer.capture.mapped import mapped_pcap  # see TYPE_CHECKING above

        self._tally = tally = ReadTally()
        try:
            with mapped_pcap(self.path, tally, progress) as mapped:
                yield mapped
        finally:
            tally.close()

    @property
    def tally(self) -> ReadTally:
        """The bookkeeping of the last read (or of the one `adopt_tally` handed over)."""
        return self._tally

    def adopt_tally(self, tally: ReadTally) -> None:
        """Report what another process counted while it read this file for us."""
        self._tally = tally

    @property
    def info(self) -> CaptureInfo:
        """What was learned so far; final once iteration has ended."""
        return self.info_so_far()

    def info_so_far(self) -> CaptureInfo:
        tally = self._tally
        return CaptureInfo(
            path=self.path,
            format=self.format,
            packets=tally.packets,
            bytes=self.size,
            first_ts_ns=tally.first_ts_ns,
            last_ts_ns=tally.last_ts_ns,
            truncated=tally.truncated,
        )

    @property
    def diagnostics(self) -> list[Diagnostic]:
        return self._tally.diagnostics


def _file_size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except OSError as exc:
        raise InputError(f"cannot stat file: {exc.strerror}", path=path) from exc


def open_frames(path: str | os.PathLike[str]) -> FrameSource:
    """Open a pcap or pcapng capture for streaming; raises InputError if unusable."""
    return FrameSource(path)

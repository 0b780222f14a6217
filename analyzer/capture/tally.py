"""Bookkeeping shared by the pcap and pcapng readers: counts, time span, truncation."""

from __future__ import annotations

from typing import BinaryIO

from analyzer.capture.base import Frame
from analyzer.core import Diagnostic, Severity

MAX_RECORD_BYTES = 256 * 1024 * 1024  # a longer record length means a corrupt file
GLOBAL_HEADER_LEN = 24  # classic pcap file header
RECORD_HEADER_LEN = 16  # classic pcap record header
LINKTYPE_MASK = 0xFFFF  # the upper bits of the network field may carry FCS information


class ReadTally:
    """What a reader learned while streaming: counts, time span, truncation, diagnostics."""

    def __init__(self) -> None:
        self.packets = 0
        self.first_ts_ns: int | None = None
        self.last_ts_ns: int | None = None
        self.truncated = False
        self.snaplen_cut = 0
        self.offset = 0  # bytes consumed so far (for progress reports)
        self.diagnostics: list[Diagnostic] = []

    def frame(self, index: int, ts_ns: int, linktype: int, data: bytes, wire_len: int) -> Frame:
        """Count a record and build its Frame."""
        self.packets += 1
        if self.first_ts_ns is None:
            self.first_ts_ns = ts_ns
        self.last_ts_ns = ts_ns
        if len(data) < wire_len:
            self.snaplen_cut += 1
        return Frame(index=index, ts_ns=ts_ns, linktype=linktype, data=data, wire_len=wire_len)

    def note(self, code: str, severity: Severity, where: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(code, severity, where, message))

    def cut_short(self, offset: int, index: int, what: str) -> None:
        """The file ends inside a record: keep what came before, flag the capture."""
        self.truncated = True
        self.note(
            "capture-truncated",
            Severity.WARNING,
            f"packet {index}",
            f"file ends inside {what} of packet {index} at byte offset {offset}; "
            f"the {index - 1} earlier packets were read",
        )

    def corrupt(self, offset: int, index: int, why: str) -> None:
        """Nonsense lengths: nothing after this point can be trusted, so reading stops."""
        self.truncated = True
        self.note(
            "capture-corrupt",
            Severity.ERROR,
            f"packet {index}",
            f"corrupt record at byte offset {offset} (packet {index}): {why}; "
            "reading stopped there",
        )

    def close(self) -> None:
        """Add the summary diagnostics that only make sense once the file was read."""
        if self.snaplen_cut:
            self.note(
                "capture-snaplen",
                Severity.INFO,
                "capture",
                f"{self.snaplen_cut} packets were cut by the snapshot length; "
                "their payload is incomplete and shows as stream gaps",
            )


def read_up_to(stream: BinaryIO, size: int) -> bytes:
    """Read `size` bytes, or fewer only at end of file (buffered reads may return less)."""
    data = stream.read(size)
    if len(data) == size or not data:
        return data
    parts = [data]
    got = len(data)
    while got < size:
        more = stream.read(size - got)
        if not more:
            break
        parts.append(more)
        got += len(more)
    return b"".join(parts)


def record_length_problem(caplen: int, wire_len: int) -> str | None:
    """Why a record's lengths cannot be real, or None when they are plausible."""
    if caplen > MAX_RECORD_BYTES or wire_len > MAX_RECORD_BYTES:
        return f"record length {max(caplen, wire_len)} exceeds {MAX_RECORD_BYTES}"
    if caplen > wire_len:
        return f"captured length {caplen} exceeds original length {wire_len}"
    return None

"""Classic pcap records walked in a memory-mapped file: the reader of the fast path.

`read_pcap` copies every record into a `Frame`; on a two-million-packet capture those
copies and objects cost more than the decoding. Here the file is mapped once and the walk
yields only positions, `(index, ts_ns, start, end, wire_len)`, so the decoder reads the
headers in place and copies nothing but TCP payload. The bookkeeping (`ReadTally`: counts,
time span, truncation and corruption diagnostics) is exactly `read_pcap`'s, so both paths
report the same `CaptureInfo`.
"""

from __future__ import annotations

import mmap
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from analyzer.capture.sniff import PCAP_MAGICS
from analyzer.capture.tally import (
    GLOBAL_HEADER_LEN,
    LINKTYPE_MASK,
    MAX_RECORD_BYTES,
    RECORD_HEADER_LEN,
    ReadTally,
    record_length_problem,
)
from analyzer.errors import InputError

RecordRef = tuple[int, int, int, int, int]  # index, ts_ns, start, end, wire_len
PROGRESS_EVERY = 4096  # records between updates of the tally's offset and time span
Progress = Callable[[int, int], None]  # (bytes walked, file size)


class MappedPcap:
    """A classic pcap file's bytes and link type, with a walk over its records."""

    def __init__(
        self, buffer: mmap.mmap | bytes, tally: ReadTally, progress: Progress | None = None
    ) -> None:
        self.buffer = buffer
        self.tally = tally
        self.progress = progress
        self.linktype = -1
        self.header_ok = False
        self._released = 0  # mapped bytes before this offset were given back
        self._order = "<"
        self._frac_to_ns = 1000
        self._record_header = struct.Struct("<IIII")
        if len(buffer) >= GLOBAL_HEADER_LEN and bytes(buffer[:4]) in PCAP_MAGICS:
            self._order, nano = PCAP_MAGICS[bytes(buffer[:4])]
            self._frac_to_ns = 1 if nano else 1000
            self._record_header = struct.Struct(self._order + "IIII")
            (network,) = struct.unpack_from(self._order + "I", buffer, 20)
            self.linktype = network & LINKTYPE_MASK
            self.header_ok = True
        else:
            tally.cut_short(min(len(buffer), GLOBAL_HEADER_LEN), 1, "the file header")

    def records(self) -> Iterator[RecordRef]:
        """Positions of every complete record; a cut or corrupt one ends the walk."""
        for batch in self.batches():
            yield from batch

    def batches(self) -> Iterator[list[RecordRef]]:
        """`records` in lists of up to `PROGRESS_EVERY`: a loop over a list costs less per
        record than resuming a generator. The tally and progress move once a batch."""
        if not self.header_ok:
            return
        tally = self.tally
        offset, walked, ended = GLOBAL_HEADER_LEN, 0, False
        try:
            while not ended:
                batch, offset, ended = self._walk(offset, walked + 1)
                if batch:
                    walked += len(batch)
                    if tally.first_ts_ns is None:
                        tally.first_ts_ns = batch[0][1]
                    tally.packets, tally.last_ts_ns, tally.offset = walked, batch[-1][1], offset
                    if self.progress is not None:
                        self.progress(offset, len(self.buffer))
                    yield batch
                    self._release_before(batch[-1][2])  # the consumer is done with the batch
        finally:
            tally.packets = walked

    def _walk(self, offset: int, first: int) -> tuple[list[RecordRef], int, bool]:
        """Up to `PROGRESS_EVERY` records from `offset` (record number `first`): (records,
        where the walk stopped, whether it has ended: end of file, or a record reported
        to the tally as cut or corrupt)."""
        buf, tally, size = self.buffer, self.tally, len(self.buffer)
        unpack = self._record_header.unpack_from
        frac_to_ns, snap_cut = self._frac_to_ns, 0
        batch: list[RecordRef] = []
        append = batch.append
        ended = True
        for index in range(first, first + PROGRESS_EVERY):
            if offset + RECORD_HEADER_LEN > size:
                if offset < size:
                    tally.cut_short(offset, index, "the record header")
                break
            sec, frac, caplen, wire_len = unpack(buf, offset)
            start = offset + RECORD_HEADER_LEN
            end = start + caplen
            if caplen != wire_len or end > size or wire_len > MAX_RECORD_BYTES:  # rare
                if self._ends_walk(offset, index, caplen, wire_len, end):
                    break
                if caplen < wire_len:
                    snap_cut += 1
            append((index, sec * 1_000_000_000 + frac * frac_to_ns, start, end, wire_len))
            offset = end
        else:
            ended = False
        tally.snaplen_cut += snap_cut
        return batch, offset, ended

    def _ends_walk(self, offset: int, index: int, caplen: int, wire_len: int, end: int) -> bool:
        """Report a corrupt or cut record to the tally: True if there is one."""
        if caplen > wire_len or wire_len > MAX_RECORD_BYTES:
            self.tally.corrupt(offset, index, str(record_length_problem(caplen, wire_len)))
            return True
        if end > len(self.buffer):
            self.tally.cut_short(offset, index, "the packet data")
            return True
        return False

    def _release_before(self, position: int) -> None:
        """Drop the mapped pages already walked from our RSS: the file's bytes stay in the
        page cache, so memory stays flat however large the capture (re-reading a dropped
        page only faults it in again)."""
        buf = self.buffer
        if isinstance(buf, mmap.mmap) and _DONTNEED is not None:
            upto = position - position % mmap.PAGESIZE
            if upto > self._released:
                buf.madvise(_DONTNEED, self._released, upto - self._released)
                self._released = upto


_DONTNEED: int | None = getattr(mmap, "MADV_DONTNEED", None)


@contextmanager
def mapped_pcap(
    path: str, tally: ReadTally, progress: Progress | None = None
) -> Iterator[MappedPcap]:
    """Map a classic pcap file read-only for the duration of the block."""
    try:
        with open(path, "rb") as stream:
            if stream.seek(0, 2) == 0:
                yield MappedPcap(b"", tally, progress)
                return
            with mmap.mmap(stream.fileno(), 0, access=mmap.ACCESS_READ) as buffer:
                yield MappedPcap(buffer, tally, progress)
    except OSError as exc:
        raise InputError(f"cannot read file: {exc.strerror}", path=path) from exc

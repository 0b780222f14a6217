"""Classic pcap records walked in a memory-mapped file: the reader of the fast path.

`read_pcap` copies every record into a `Frame`; on a two-million-packet capture those
copies and objects cost more than the decoding. Here the file is mapped once and the walk
yields only positions, `(index, ts_ns, start, end, wire_len)` (or the same as arrays, a
batch at a time, with a copy of the batch's bytes), so the decoder reads the headers in
place and copies nothing but TCP payload. The bookkeeping (`ReadTally`: counts,
time span, truncation and corruption diagnostics) is exactly `read_pcap`'s, so both paths
report the same `CaptureInfo`.
"""

from __future__ import annotations

import mmap
import struct
from array import array
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Final

import numpy as np

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


def byte_windows(chunk: np.ndarray, at: np.ndarray, width: int) -> np.ndarray:
    """The `width` bytes from each index of `at` in `chunk`, one row each.

    A window that would run past the chunk's end is moved back to end there (a chunk
    shorter than `width` is padded with zeros): callers read such rows only for frames
    too short to use them. Rows of a strided view cost one small copy each, several times
    less than indexing every byte."""
    if len(chunk) < width:
        chunk = np.concatenate([chunk, np.zeros(width - len(chunk), dtype=chunk.dtype)])
    windows = np.lib.stride_tricks.sliding_window_view(chunk, width)
    rows: np.ndarray = windows[np.minimum(at, len(chunk) - width)]
    return rows


@dataclass(frozen=True, slots=True)
class RecordColumns:
    """A batch of records as arrays (int64), with a copy of the bytes they lie in."""

    first_index: int  # the capture index of the first record (1-based)
    ts_ns: np.ndarray
    start: np.ndarray  # where each frame starts in the file
    end: np.ndarray
    wire_len: np.ndarray
    chunk: np.ndarray  # the batch's bytes (uint8): file offset `chunk_at` is chunk[0]
    chunk_at: int


PROGRESS_EVERY: Final = 4096  # records between updates of the tally's offset and time span
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
        self._caplen = struct.Struct("<I")
        self._u32 = np.dtype("<u4")
        self._frac_to_ns = 1000
        if len(buffer) >= GLOBAL_HEADER_LEN and bytes(buffer[:4]) in PCAP_MAGICS:
            self._order, nano = PCAP_MAGICS[bytes(buffer[:4])]
            self._frac_to_ns = 1 if nano else 1000
            (network,) = struct.unpack_from(self._order + "I", buffer, 20)
            self._caplen = struct.Struct(self._order + "I")
            self._u32 = np.dtype(self._order + "u4")
            self.linktype = network & LINKTYPE_MASK
            self.header_ok = True
        else:
            tally.cut_short(min(len(buffer), GLOBAL_HEADER_LEN), 1, "the file header")

    def records(self) -> Iterator[RecordRef]:
        """Positions of every complete record; a cut or corrupt one ends the walk."""
        for cols in self.column_batches():
            first = cols.first_index
            yield from zip(
                range(first, first + len(cols.start)),
                cols.ts_ns.tolist(),
                cols.start.tolist(),
                cols.end.tolist(),
                cols.wire_len.tolist(),
                strict=True,
            )

    def column_batches(self) -> Iterator[RecordColumns]:
        """The records of `records`, up to `PROGRESS_EVERY` at a time, as arrays: callers
        that look at every record (the fast path) read their headers in bulk. The tally
        and progress move once a batch."""
        if not self.header_ok:
            return
        tally = self.tally
        offset, walked, ended = GLOBAL_HEADER_LEN, 0, False
        try:
            while not ended:
                cols, offset, ended = self._walk(offset, walked + 1)
                if len(cols.start):
                    walked += len(cols.start)
                    if tally.first_ts_ns is None:
                        tally.first_ts_ns = int(cols.ts_ns[0])
                    tally.packets, tally.offset = walked, offset
                    tally.last_ts_ns = int(cols.ts_ns[-1])
                    if self.progress is not None:
                        self.progress(offset, len(self.buffer))
                    yield cols
                    self._release_before(int(cols.start[-1]))  # the consumer is done with it
        finally:
            tally.packets = walked

    def _walk(self, offset: int, first: int) -> tuple[RecordColumns, int, bool]:
        """Up to `PROGRESS_EVERY` records from `offset` (record number `first`): (records,
        where the walk stopped, whether it has ended: end of file, or a record reported
        to the tally as cut or corrupt).

        Only the chain of record lengths is followed one record at a time; every other
        header field is read for the whole batch at once."""
        size = len(self.buffer)
        found, at, needed = self._chain(offset)
        # A copy of the batch's bytes, not a view of the mapping: no array may pin the map.
        chunk = np.frombuffer(self.buffer[offset:needed], dtype=np.uint8)
        offsets = np.frombuffer(found, dtype=np.int64)
        heads = byte_windows(chunk, offsets - offset, RECORD_HEADER_LEN).view(self._u32)
        sec, frac, caplen, wire_len = (heads[:, k].astype(np.int64) for k in range(4))
        start = offsets + RECORD_HEADER_LEN
        end = start + caplen
        keep, snap_cut = len(offsets), 0
        odd = (caplen != wire_len) | (end > size) | (wire_len > MAX_RECORD_BYTES)  # rare
        for i in np.flatnonzero(odd).tolist():
            where, n_cap, n_wire = int(offsets[i]), int(caplen[i]), int(wire_len[i])
            if self._ends_walk(where, first + i, n_cap, n_wire, int(end[i])):
                keep, at = i, where
                break
            if n_cap < n_wire:
                snap_cut += 1
        else:
            if keep < PROGRESS_EVERY and at < size:  # stopped at a record header cut short
                self.tally.cut_short(at, first + keep, "the record header")
        self.tally.snaplen_cut += snap_cut
        ts_ns = sec[:keep] * 1_000_000_000 + frac[:keep] * self._frac_to_ns
        cols = RecordColumns(first, ts_ns, start[:keep], end[:keep], wire_len[:keep], chunk, offset)
        return cols, at, keep < PROGRESS_EVERY

    def _chain(self, offset: int) -> tuple[array[int], int, int]:
        """Where up to `PROGRESS_EVERY` records start, from `offset`, following their
        lengths; where the chain stopped; and where the bytes the batch needs end.

        A record that cannot be whole (it runs past the end of the file, or its length is
        beyond any real one) ends the walk: only its header is needed, so a corrupt length
        never makes the batch copy the rest of the file."""
        buf, size = self.buffer, len(self.buffer)
        caplen_at = self._caplen.unpack_from
        # Locals, typed: compiled (setup.py), the loop then runs on machine integers, with
        # no lookup of another module's constants; it runs for every record of the file.
        header_len: int = RECORD_HEADER_LEN
        max_bytes: int = MAX_RECORD_BYTES
        found: list[int] = []
        at: int = offset
        for _ in range(PROGRESS_EVERY):
            if at + header_len > size:
                break
            found.append(at)
            caplen: int = caplen_at(buf, at + 8)[0]
            end = at + header_len + caplen
            if caplen > max_bytes or end > size:
                return array("q", found), end, at + header_len
            at = end
        return array("q", found), at, at

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

"""pcapng files: sections, interfaces, EPB/SPB/PB packets, per-interface time resolution.

Read with `struct`, not `dpkt.pcapng.Reader`: dpkt reads one section and one interface's
resolution only, cannot say where a cut file ends, and raises on unknown blocks. Here each
section keeps its own byte order and interface table; each interface its link type,
`if_tsresol` (decimal or binary) and `if_tsoffset`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from analyzer.capture.base import Frame
from analyzer.capture.sniff import PCAPNG_MAGIC
from analyzer.capture.tally import MAX_RECORD_BYTES, ReadTally, read_up_to, record_length_problem
from analyzer.core import Severity

BYTE_ORDER_MAGIC = {b"\x1a\x2b\x3c\x4d": ">", b"\x4d\x3c\x2b\x1a": "<"}
IDB, OLD_PB, SPB, NRB, ISB, EPB, DSB = 1, 2, 3, 4, 5, 6, 10
QUIET_SKIPPED = {NRB, ISB, DSB}  # known blocks that carry nothing sioscope needs
OPT_ENDOFOPT, OPT_TSRESOL, OPT_TSOFFSET = 0, 9, 14
NS_PER_S = 1_000_000_000


@dataclass(frozen=True, slots=True)
class Interface:
    """An IDB: link type and the conversion of its timestamp units to nanoseconds."""

    linktype: int
    snaplen: int
    ts_mul: int = 1000  # ns = units * ts_mul // ts_div + offset_ns (default: microseconds)
    ts_div: int = 1
    offset_ns: int = 0

    def to_ns(self, units: int) -> int:
        return units * self.ts_mul // self.ts_div + self.offset_ns


class _Reader:
    """State of one pass over a pcapng stream."""

    def __init__(self, stream: BinaryIO, tally: ReadTally) -> None:
        self.stream = stream
        self.tally = tally
        self.order = "<"
        self.interfaces: list[Interface] = []
        self.offset = 0  # byte offset of the current block
        self.index = 0  # number of the last packet block seen
        self.last_ts_ns = 0
        self.reported_types: set[int] = set()
        self.stopped = False

    def frames(self) -> Iterator[Frame]:
        while not self.stopped:
            block = self._next_block()
            if block is None:
                return
            block_type, body = block
            frame = self._dispatch(block_type, body)
            if frame is not None:
                yield frame
            self.offset += len(body) + 12
            self.tally.offset = self.offset

    def _next_block(self) -> tuple[int, bytes] | None:
        """Read one block's type and body; None at end of file or after a stop."""
        head = read_up_to(self.stream, 8)
        if not head:
            return None
        if len(head) < 8:
            self._cut("a block header")
            return None
        if head[:4] == PCAPNG_MAGIC:
            bom = read_up_to(self.stream, 4)
            if len(bom) < 4:
                self._cut("a section header")
                return None
            if bom not in BYTE_ORDER_MAGIC:
                self._bad("section header has no valid byte-order magic")
                return None
            self.order = BYTE_ORDER_MAGIC[bom]
            body_prefix = bom
        elif not self.interfaces and self.offset == 0:
            self._bad("file does not start with a section header")
            return None
        else:
            body_prefix = b""
        block_type, total_len = struct.unpack(self.order + "II", head)
        if total_len < 12 + len(body_prefix) or total_len % 4 or total_len > MAX_RECORD_BYTES:
            self._bad(f"block length {total_len} is impossible")
            return None
        rest = read_up_to(self.stream, total_len - 8 - len(body_prefix))
        if len(rest) < total_len - 8 - len(body_prefix):
            self._cut("a block")
            return None
        (trailer,) = struct.unpack_from(self.order + "I", rest, len(rest) - 4)
        if trailer != total_len:
            self._bad(f"block length {total_len} and trailing length {trailer} differ")
            return None
        return block_type, body_prefix + rest[:-4]

    def _cut(self, what: str) -> None:
        self.tally.cut_short(self.offset, self.index + 1, what)
        self.stopped = True

    def _bad(self, why: str) -> None:
        self.tally.corrupt(self.offset, self.index + 1, why)
        self.stopped = True

    def _dispatch(self, block_type: int, body: bytes) -> Frame | None:
        if block_type == int.from_bytes(PCAPNG_MAGIC, "big"):
            self.interfaces = []
        elif block_type == IDB:
            self._add_interface(body)
        elif block_type in (EPB, OLD_PB):
            return self._packet(body, block_type)
        elif block_type == SPB:
            return self._simple_packet(body)
        elif block_type not in QUIET_SKIPPED and block_type not in self.reported_types:
            self.reported_types.add(block_type)
            self.tally.note(
                "pcapng-unknown-block",
                Severity.INFO,
                f"byte {self.offset}",
                f"skipped pcapng block type 0x{block_type:08x} (first at byte offset "
                f"{self.offset})",
            )
        return None

    def _add_interface(self, body: bytes) -> None:
        if len(body) < 8:
            self.tally.note(
                "pcapng-bad-interface",
                Severity.WARNING,
                f"byte {self.offset}",
                "interface description block too short; interface unusable",
            )
            self.interfaces.append(Interface(linktype=-1, snaplen=0))
            return
        linktype, _reserved, snaplen = struct.unpack_from(self.order + "HHI", body)
        mul, div, offset_ns = 1000, 1, 0
        for code, value in _options(body, 8, self.order):
            if code == OPT_TSRESOL and len(value) >= 1:
                mul, div = _resolution(value[0])
            elif code == OPT_TSOFFSET and len(value) >= 8:
                (offset_ns,) = struct.unpack_from(self.order + "q", value)
                offset_ns *= NS_PER_S
        self.interfaces.append(Interface(linktype, snaplen, mul, div, offset_ns))

    def _packet(self, body: bytes, block_type: int) -> Frame | None:
        self.index += 1
        if len(body) < 20:
            self.tally.corrupt(self.offset, self.index, "packet block too short")
            self._stop()
            return None
        if block_type == EPB:
            iface_id, ts_high, ts_low, caplen, wire_len = struct.unpack_from(
                self.order + "IIIII", body
            )
        else:
            iface_id, _drops, ts_high, ts_low, caplen, wire_len = struct.unpack_from(
                self.order + "HHIIII", body
            )
        problem = record_length_problem(caplen, wire_len)
        if problem is None and caplen > len(body) - 20:
            problem = f"captured length {caplen} exceeds the block"
        if problem:
            self.tally.corrupt(self.offset, self.index, problem)
            self._stop()
            return None
        iface = self._interface(iface_id)
        if iface is None:
            return None
        ts_ns = iface.to_ns((ts_high << 32) | ts_low)
        self.last_ts_ns = ts_ns
        return self.tally.frame(self.index, ts_ns, iface.linktype, body[20 : 20 + caplen], wire_len)

    def _simple_packet(self, body: bytes) -> Frame | None:
        """SPBs carry no timestamp and no interface id: interface 0, previous time."""
        self.index += 1
        iface = self._interface(0)
        if iface is None or len(body) < 4:
            return None
        (wire_len,) = struct.unpack_from(self.order + "I", body)
        caplen = min(wire_len, len(body) - 4)
        if iface.snaplen:
            caplen = min(caplen, iface.snaplen)
        if SPB not in self.reported_types:
            self.reported_types.add(SPB)
            self.tally.note(
                "pcapng-simple-packet",
                Severity.INFO,
                f"packet {self.index}",
                "simple packet blocks carry no timestamp; the previous packet's time is used",
            )
        return self.tally.frame(
            self.index, self.last_ts_ns, iface.linktype, body[4 : 4 + caplen], wire_len
        )

    def _interface(self, iface_id: int) -> Interface | None:
        if iface_id < len(self.interfaces) and self.interfaces[iface_id].linktype >= 0:
            return self.interfaces[iface_id]
        self.tally.note(
            "pcapng-unknown-interface",
            Severity.WARNING,
            f"packet {self.index}",
            f"packet {self.index} names interface {iface_id}, which was not "
            "described; packet skipped",
        )
        return None

    def _stop(self) -> None:
        """End the pass after a corrupt packet block."""
        self.stopped = True


def _resolution(value: int) -> tuple[int, int]:
    """`if_tsresol` to (mul, div) so that ns = units * mul // div."""
    exponent = value & 0x7F
    if value & 0x80:
        return NS_PER_S, 1 << exponent
    if exponent <= 9:
        return 10 ** (9 - exponent), 1
    return 1, 10 ** (exponent - 9)


def _options(body: bytes, start: int, order: str) -> Iterator[tuple[int, bytes]]:
    """(code, value) pairs of an options list; stops quietly at anything malformed."""
    pos = start
    while pos + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, pos)
        if code == OPT_ENDOFOPT or pos + 4 + length > len(body):
            return
        yield code, body[pos + 4 : pos + 4 + length]
        pos += 4 + (length + 3) // 4 * 4


def read_pcapng(stream: BinaryIO, tally: ReadTally) -> Iterator[Frame]:
    """Yield the frames of a pcapng stream positioned at its first byte."""
    return _Reader(stream, tally).frames()

"""Records every capture reader shares."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class CaptureFormat(enum.Enum):
    PCAP = "pcap"
    PCAPNG = "pcapng"
    HAR = "har"


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured link-layer record, as the file holds it."""

    index: int  # 1-based packet number, as Wireshark counts
    ts_ns: int  # epoch nanoseconds
    linktype: int  # DLT/LINKTYPE_ value of its interface
    data: bytes  # the captured bytes (may be shorter than wire_len: snaplen)
    wire_len: int


@dataclass(frozen=True, slots=True)
class CaptureInfo:
    """What the report's `input` block says about the file (known once it was read)."""

    path: str
    format: CaptureFormat
    packets: int  # frames (pcap) or entries (HAR)
    bytes: int  # file size in bytes
    first_ts_ns: int | None
    last_ts_ns: int | None
    truncated: bool

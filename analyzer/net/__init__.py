"""Link/IP/TCP decoding and TCP reassembly.

`tcp_events` chains the two for a stream of frames; pass a `DecodeStats` to read how many
frames were not TCP, malformed or fragments afterwards (its `diagnostics()` summarises).
It does not call `TcpReassembler.finish`: the caller knows whether the capture was cut.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from analyzer.capture.base import Frame
from analyzer.net.events import TcpEvent
from analyzer.net.packet import DecodeStats, TcpSegment, decode_frame
from analyzer.net.tcp import TcpReassembler


def tcp_events(
    frames: Iterable[Frame], reassembler: TcpReassembler, stats: DecodeStats | None = None
) -> Iterator[TcpEvent]:
    """Decode each frame and feed its TCP segment to `reassembler`, yielding the events."""
    if stats is None:
        stats = reassembler.decode_stats
    for frame in frames:
        segment = decode_frame(frame, stats)
        if segment is not None:
            yield from reassembler.feed(segment)


__all__ = ["DecodeStats", "TcpReassembler", "TcpSegment", "decode_frame", "tcp_events"]

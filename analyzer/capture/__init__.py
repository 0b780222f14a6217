"""Capture readers: the only package that opens files.

`open_frames` streams the frames of a pcap or pcapng file; `sniff_format` / `sniff_file`
tell pcap, pcapng and HAR apart by their magic bytes.
"""

from analyzer.capture.base import CaptureFormat, CaptureInfo, Frame
from analyzer.capture.pcap import FrameSource, open_frames
from analyzer.capture.sniff import sniff_file, sniff_format

__all__ = [
    "CaptureFormat",
    "CaptureInfo",
    "Frame",
    "FrameSource",
    "open_frames",
    "sniff_file",
    "sniff_format",
]

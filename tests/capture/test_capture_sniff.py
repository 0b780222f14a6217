"""Format sniffing from magic bytes."""

from __future__ import annotations

from pathlib import Path

import pytest

from analyzer.capture import CaptureFormat, open_frames, sniff_file, sniff_format
from analyzer.errors import InputError


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"\xd4\xc3\xb2\xa1\x02\x00\x04\x00", CaptureFormat.PCAP),
        (b"\xa1\xb2\xc3\xd4\x00\x02\x00\x04", CaptureFormat.PCAP),
        (b"\x4d\x3c\xb2\xa1\x02\x00", CaptureFormat.PCAP),
        (b"\xa1\xb2\x3c\x4d\x00\x02", CaptureFormat.PCAP),
        (b"\x0a\x0d\x0d\x0a\x1c\x00\x00\x00", CaptureFormat.PCAPNG),
        (b'{"log": {}}', CaptureFormat.HAR),
        (b'\xef\xbb\xbf  \r\n\t{"log"', CaptureFormat.HAR),
        (b"\xd4\xc3", CaptureFormat.PCAP),  # cut inside the magic: a truncated pcap
    ],
)
def test_known_magics(head: bytes, expected: CaptureFormat) -> None:
    assert sniff_format(head) is expected


def test_unknown_format_names_first_bytes() -> None:
    expected = r"not a pcap, pcapng or HAR file \(starts with 3c 68 74 6d\)"
    with pytest.raises(InputError, match=expected):
        sniff_format(b"<html><body>")
    with pytest.raises(InputError):
        sniff_format(b"[1, 2]")


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="empty file"):
        sniff_format(b"")
    empty = tmp_path / "empty.pcap"
    empty.write_bytes(b"")
    with pytest.raises(InputError, match="empty file") as info:
        sniff_file(empty)
    assert info.value.path == str(empty)


def test_missing_file_and_har_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        open_frames(tmp_path / "absent.pcap")
    har = tmp_path / "x.har"
    har.write_text('{"log": {"entries": []}}')
    with pytest.raises(InputError, match="HAR"):
        open_frames(har)

"""Tell pcap, pcapng and HAR apart by their first bytes, never by the file name.

Users rename captures freely (``.cap``, ``.dump``, ``.json``), so the extension is no
evidence; the magic numbers are.
"""

from __future__ import annotations

import os

from analyzer.capture.base import CaptureFormat
from analyzer.errors import InputError

PCAP_MAGICS: dict[bytes, tuple[str, bool]] = {
    # magic as stored -> (struct byte-order prefix, nanosecond resolution)
    b"\xd4\xc3\xb2\xa1": ("<", False),
    b"\xa1\xb2\xc3\xd4": (">", False),
    b"\x4d\x3c\xb2\xa1": ("<", True),
    b"\xa1\xb2\x3c\x4d": (">", True),
}
PCAPNG_MAGIC = b"\x0a\x0d\x0d\x0a"
UTF8_BOM = b"\xef\xbb\xbf"
SNIFF_BYTES = 64  # how many leading bytes callers should pass to `sniff_format`


def sniff_format(head: bytes) -> CaptureFormat:
    """Identify the capture format from the file's first bytes.

    A head shorter than four bytes that is a prefix of a known magic still counts: a file
    cut inside its magic is a truncated capture (no packets), not an unknown format.
    """
    if not head:
        raise InputError("empty file", where="byte 0")
    fmt = _binary_format(head)
    if fmt is not None:
        return fmt
    if _looks_like_json_object(head):
        return CaptureFormat.HAR
    shown = " ".join(f"{b:02x}" for b in head[:4])
    raise InputError(f"not a pcap, pcapng or HAR file (starts with {shown})", where="byte 0")


def _binary_format(head: bytes) -> CaptureFormat | None:
    magic = head[:4]
    if any(m.startswith(magic) for m in PCAP_MAGICS):
        return CaptureFormat.PCAP
    if PCAPNG_MAGIC.startswith(magic):
        return CaptureFormat.PCAPNG
    return None


def _looks_like_json_object(head: bytes) -> bool:
    text = head.removeprefix(UTF8_BOM).lstrip(b" \t\r\n")
    return text.startswith(b"{")


def sniff_file(path: str | os.PathLike[str]) -> CaptureFormat:
    """The format of a file on disk, from its first bytes."""
    try:
        with open(path, "rb") as stream:
            head = stream.read(SNIFF_BYTES)
    except OSError as exc:
        raise InputError(f"cannot open file: {exc.strerror}", path=os.fspath(path)) from exc
    try:
        return sniff_format(head)
    except InputError as exc:
        raise InputError(exc.message, path=os.fspath(path), where=exc.where) from None

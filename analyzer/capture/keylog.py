"""Reading a TLS key log file (SSLKEYLOGFILE format); parsing lives in `analyzer.tls`."""

from __future__ import annotations

import os

from analyzer.core import Diagnostic
from analyzer.errors import InputError
from analyzer.tls import KeyLog, parse_keylog

MAX_KEYLOG_BYTES = 256 << 20  # a key log is read whole; ~200 bytes a line is plenty of lines


def read_keylog(path: str, max_bytes: int = MAX_KEYLOG_BYTES) -> tuple[KeyLog, list[Diagnostic]]:
    """The secrets of a key log file; InputError when it cannot be read or is too big."""
    try:
        size = os.path.getsize(path)
        if size > max_bytes:
            raise InputError(f"key log of {size} bytes exceeds {max_bytes}", path=path)
        with open(path, "rb") as handle:
            text = handle.read().decode("ascii", errors="replace")
    except OSError as exc:
        raise InputError(f"cannot read key log: {exc.strerror or exc}", path=path) from None
    keylog, diagnostics = parse_keylog(text, where=os.path.basename(path))
    if not keylog:
        raise InputError("no usable secrets in key log", path=path)
    return keylog, diagnostics

"""The big many-sessions run, outside the test suite (it takes minutes).

    python -m tests.robustness.many_sessions 1000000 [DIR]

Writes a pcap with that many tiny polling sessions (one connection each), analyzes it and
prints sessions found, seconds, and peak memory, so growth with the session count shows.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from analyzer.pipeline import analyze
from tests.robustness import craft


def write_capture(path: Path, count: int) -> None:
    with path.open("wb") as out:
        out.write(craft.pcap_header())
        for record in craft.many_sessions(count):
            out.write(craft.pcap_record(*record))


def main(count: int, folder: str | None) -> None:
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "many.pcap"
        write_capture(path, count)
        started = time.perf_counter()
        analysis = analyze(str(path))
        elapsed = time.perf_counter() - started
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"{count} sessions written, {len(analysis.sessions)} found, "
            f"{path.stat().st_size} bytes, {elapsed:.1f} s, peak RSS {peak_mib:.0f} MiB, "
            f"{len(analysis.diagnostics)} diagnostics"
        )


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2] if len(sys.argv) > 2 else None)

"""tcpdump's drop report: reference captures fail on it, benchmark captures note it."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from captures.lab.sandbox import LabError, Process, Sandbox
from captures.lab.scenarios.load import VARIANTS

REPORT = b"120 packets captured\n130 packets received by filter\n10 packets dropped by kernel\n"


def _box(tmp_path: Path, tolerate: bool) -> Sandbox:
    box = Sandbox("unused", 3000, tmp_path, tmp_path / "x.pcap", deadline=0.0)
    box.tolerate_dropped_packets = tolerate
    script = f"import sys; sys.stderr.buffer.write({REPORT!r})"
    # It ignores the SIGINT that stops tcpdump and stays our unreaped child until then.
    popen = subprocess.Popen(
        [sys.executable, "-c", script],
        stderr=subprocess.PIPE,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    box.tcpdump = Process("tcpdump", popen, tmp_path / "tcpdump.log")
    return box


def test_a_reference_capture_with_drops_fails(tmp_path: Path) -> None:
    with pytest.raises(LabError, match="dropped 10 packets"):
        _box(tmp_path, tolerate=False)._stop_tcpdump()


def test_a_benchmark_capture_keeps_a_note(tmp_path: Path) -> None:
    box = _box(tmp_path, tolerate=True)
    box._stop_tcpdump()
    assert any("dropped 10 packets" in note for note in box.lab_notes)


def test_only_the_load_scenarios_tolerate_drops() -> None:
    assert all(cls.tolerate_dropped_packets for cls in VARIANTS.values())
    assert VARIANTS["load-long"].duration_s == 2 * VARIANTS["load"].duration_s

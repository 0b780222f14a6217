"""Shared test helpers: parse `sioscope report` arguments and a fake loader."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from analyzer.errors import InputError
from analyzer.model import Analysis
from analyzer.report.command import add_arguments
from tests.report.fixtures import har_analysis, pcap_analysis

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("SIOSCOPE_UPDATE_GOLDEN") == "1"


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="sioscope report")
    add_arguments(parser)
    return parser.parse_args(list(argv))


def fake_load(path: str) -> Analysis:
    """Stands in for the pipeline: two known captures, anything else is unusable input."""
    known = {"captures/mixed.pcap": pcap_analysis, "captures/browser.har": har_analysis}
    if path not in known:
        raise InputError("no such file", path=path)
    return known[path]()


def check_golden(name: str, text: str) -> None:
    """Compare with tests/report/golden/NAME; SIOSCOPE_UPDATE_GOLDEN=1 rewrites it instead.

    Read the diff (git diff tests/report/golden) before committing an update.
    """
    path = GOLDEN / name
    if UPDATE:
        path.write_text(text, encoding="utf-8", newline="")
    assert path.exists(), f"missing golden file {name}; run with SIOSCOPE_UPDATE_GOLDEN=1"
    assert text == path.read_bytes().decode("utf-8"), f"{name} differs from its golden file"

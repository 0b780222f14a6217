"""The same input gives byte-identical reports, across runs and across PYTHONHASHSEED."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.robustness.broken.make_broken import HERE as BROKEN

ROOT = Path(__file__).resolve().parents[2]
INPUTS = [
    ROOT / "captures" / "many-clients.pcap",
    ROOT / "captures" / "deflate.pcap",
    ROOT / "captures" / "browser-reload.har",
    BROKEN / "bit-flips.pcap",
    BROKEN / "repeated-sid.pcap",
    BROKEN / "entries-wrong-shape.har",
]
# Renders every format of every input and prints one digest per (input, format).
SCRIPT = """
import hashlib, json, sys
from analyzer.pipeline import analyze
from analyzer.report.command import render
from analyzer.report.gates import Gates, evaluate
from analyzer.report.tables import build_tables
digests = {}
for path in sys.argv[1:]:
    analyses = [analyze(path)]
    tables = build_tables(analyses)
    result = evaluate(tables, Gates((), ()))
    for fmt in ("json", "csv", "md", "junit", "html"):
        text = render(fmt, analyses, tables, result)
        digests[path.rsplit("/", 1)[-1] + ":" + fmt] = hashlib.sha256(text.encode()).hexdigest()
print(json.dumps(digests, sort_keys=True))
"""


def _digests(seed: str) -> dict[str, str]:
    env = {**os.environ, "PYTHONHASHSEED": seed}
    argv = [sys.executable, "-c", SCRIPT, *map(str, INPUTS)]
    done = subprocess.run(argv, env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    result: dict[str, str] = json.loads(done.stdout)
    return result


def test_reports_are_byte_identical_across_hash_seeds() -> None:
    first = _digests("0")
    assert len(first) == len(INPUTS) * 5
    assert _digests("12345") == first

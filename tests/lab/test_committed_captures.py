"""The committed captures: every truth file is valid, names its capture, is in the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from captures.lab.truth import validate

CAPTURES = Path(__file__).resolve().parents[2] / "captures"
TRUTH_FILES = sorted(CAPTURES.glob("*.truth.json"))


def _load(path: Path) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


def test_there_are_truth_files() -> None:
    assert TRUTH_FILES, "no committed truth files under captures/"


@pytest.mark.parametrize("path", TRUTH_FILES, ids=lambda p: p.name)
def test_truth_file_validates_and_names_its_capture(path: Path) -> None:
    truth = _load(path)
    validate(truth)
    assert truth["scenario"] + ".truth.json" == path.name
    assert (CAPTURES / truth["capture"]["file"]).is_file()


@pytest.mark.parametrize("path", TRUTH_FILES, ids=lambda p: p.name)
def test_sessions_are_consistent(path: Path) -> None:
    truth = _load(path)
    sids = [s["sid"] for s in truth["sessions"]]
    assert len(sids) == len(set(sids))
    start, end = truth["capture"]["started_at"], truth["capture"]["ended_at"]
    for session in truth["sessions"]:
        assert session["previous_sid"] is None or session["previous_sid"] in sids
        assert start - 1 <= session["opened_at"] <= end
        for side in ("server_close", "client_close"):
            if session[side] is not None:
                assert session["opened_at"] - 1 <= session[side]["at"] <= end


def test_manifest_lists_every_capture() -> None:
    manifest = _load(CAPTURES / "manifest.json")
    listed = {entry["file"] for entry in manifest["captures"]}
    on_disk = {p.name for p in CAPTURES.iterdir() if p.suffix in (".pcap", ".pcapng", ".har")}
    assert listed == on_disk
    for entry in manifest["captures"]:
        truth = _load(CAPTURES / entry["truth"])
        assert [s["sid"] for s in entry["sessions"]] == [s["sid"] for s in truth["sessions"]]


def test_analyzer_does_not_import_the_lab() -> None:
    analyzer = CAPTURES.parent / "analyzer"
    offenders = [
        str(p.relative_to(analyzer.parent))
        for p in analyzer.rglob("*.py")
        if "captures.lab" in p.read_text() or "from captures" in p.read_text()
    ]
    assert offenders == []

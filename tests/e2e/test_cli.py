"""The command line over real captures: exit codes and what a user reads."""

from __future__ import annotations

import json

import pytest

from analyzer.cli import main
from tests.e2e.conftest import CAPTURES, load_truth


def test_keylog_decrypts_the_wss_capture(capsys: pytest.CaptureFixture[str]) -> None:
    truth = load_truth(CAPTURES / "tls-keylog.truth.json")
    pcap, keys = str(CAPTURES / "tls-keylog.pcap"), str(CAPTURES / "tls-keylog.keys")
    assert main(["report", pcap, "--keylog", keys]) == 0
    report = json.loads(capsys.readouterr().out)
    assert sorted(s["sid"] for s in report["sessions"]) == sorted(
        s["sid"] for s in truth["sessions"]
    )


def test_missing_keylog_is_an_input_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(CAPTURES / "tls-keylog.pcap"), "--keylog", "no-such.keys"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "no-such.keys" in err[0]


def test_explain_names_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    truth = load_truth(CAPTURES / "client-stalled.truth.json")
    stalled = next(s for s in truth["sessions"] if s["root_cause"] == "client-stalled")
    assert main(["explain", str(CAPTURES / "client-stalled.pcap"), "--sid", stalled["sid"]]) == 0
    out = capsys.readouterr().out
    assert "client-stalled" in out
    assert f'server engine: "{stalled["server_close"]["reason"]}"' in out
    assert f'client engine: "{stalled["client_close"]["reason"]}"' in out

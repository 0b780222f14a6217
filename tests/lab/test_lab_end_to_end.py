"""Regenerate one small scenario for real (root, node, tcpdump, netns needed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from captures.lab.runner import missing_requirements, run_scenario
from captures.lab.scenarios import by_name


@pytest.mark.slow
@pytest.mark.lab
def test_client_disconnect_ws_end_to_end(tmp_path: Path) -> None:
    problems = missing_requirements()
    if problems:
        print("skipping the lab end-to-end test: " + "; ".join(problems))
        pytest.skip("; ".join(problems))
    truth_path = run_scenario(by_name("client-disconnect-ws"), tmp_path, tmp_path / "work", 0)
    truth = json.loads(truth_path.read_text())
    pcap = tmp_path / truth["capture"]["file"]
    assert pcap.stat().st_size > 1000
    [session] = truth["sessions"]
    assert session["peer"] == "client-1"
    assert session["transports"] == ["polling", "websocket"]
    assert session["server_close"]["reason"] == "transport close"
    [socket] = session["sockets"]
    assert socket["server_disconnect"]["reason"] == "client namespace disconnect"
    assert socket["client_disconnect"]["reason"] == "io client disconnect"
    assert json.loads((tmp_path / "manifest.json").read_text())["captures"][0]["file"] == pcap.name

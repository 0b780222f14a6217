"""The python peers' helpers and the peers scenario family (no processes, no network)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captures.lab.python import common
from captures.lab.runner import missing_requirements, run_scenario
from captures.lab.scenario import EXPECTABLE
from captures.lab.scenarios import SCENARIOS, by_name, peers


def test_parse_args_decodes_json_values_like_the_node_peers() -> None:
    args = common.parse_args(["--port=3300", '--transports=["polling"]', "--url=http://x", "--f"])
    assert args == {"port": 3300, "transports": ["polling"], "url": "http://x", "f": True}


def test_parse_args_refuses_positional_arguments() -> None:
    with pytest.raises(SystemExit):
        common.parse_args(["oops"])


@settings(max_examples=100)
@given(st.lists(st.text(max_size=20).map(lambda s: "--" + s), max_size=5))
def test_parse_args_takes_any_flag_text(argv: list[str]) -> None:
    assert set(common.parse_args(argv)) <= {a[2:].partition("=")[0] for a in argv}


def test_event_log_appends_the_readme_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "events.jsonl"
    monkeypatch.setenv("LAB_EVENTS", str(path))
    log = common.EventLog("server", "server", "python-socketio@9")
    log("engine_close", sid="abc", reason="ping timeout", description=None)
    log("socket_connect", who="client-7", sid="abc", nsp="/", data=b"\x00\x01")
    first, second = (json.loads(line) for line in path.read_text().splitlines())
    assert first["side"] == "server" and first["peer"] == "server"
    assert first["lib"] == "python-socketio@9" and first["event"] == "engine_close"
    assert first["reason"] == "ping timeout" and isinstance(first["t"], float)
    assert second["peer"] == "client-7" and second["data"] == "<2 bytes>"


def test_event_log_needs_lab_events(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAB_EVENTS", raising=False)
    with pytest.raises(SystemExit):
        common.EventLog("client", "client-1")


def test_query_param_reads_the_peer_label() -> None:
    assert common.query_param("peer=client-2&transport=polling&EIO=4", "peer") == "client-2"
    assert common.query_param("EIO=4", "peer") is None


def test_describe_turns_details_into_text() -> None:
    assert common.describe(None) is None
    assert common.describe("x") == "x"
    assert common.describe(ValueError("bad")) == "ValueError: bad"
    assert common.describe({"a": 1}) == '{"a": 1}'


@pytest.mark.parametrize("asynchronous", [True, False])
def test_wrap_handler_logs_then_returns_the_library_result(asynchronous: bool) -> None:
    seen: list[tuple[Any, ...]] = []

    async def async_original(*args: Any) -> str:
        seen.append(("original", *args))
        return "theirs"

    def sync_original(*args: Any) -> str:
        seen.append(("original", *args))
        return "theirs"

    original = async_original if asynchronous else sync_original
    wrapped = common.wrap_handler(original, lambda *a: seen.append(("ours", *a)))
    assert asyncio.run(wrapped("sid", "transport close")) == "theirs"
    assert seen == [("ours", "sid", "transport close"), ("original", "sid", "transport close")]


def test_wrap_handler_without_a_library_handler() -> None:
    seen: list[Any] = []
    wrapped = common.wrap_handler(None, seen.append)
    assert asyncio.run(wrapped("sid")) is None
    assert seen == ["sid"]


def test_watch_transport_reports_one_upgrade() -> None:
    states = iter(["polling", "polling", "websocket", "websocket"])
    changes: list[str] = []

    async def watch() -> None:
        await common.watch_transport(lambda: next(states), lambda: True, changes.append)

    asyncio.run(watch())
    assert changes == ["websocket"]


def test_watch_transport_stops_when_the_session_ends() -> None:
    changes: list[str] = []
    asyncio.run(common.watch_transport(lambda: "polling", lambda: False, changes.append))
    assert changes == []


def test_the_family_is_registered_with_distinct_names() -> None:
    names = [s.name for s in SCENARIOS]
    assert len(names) == len(set(names))
    for scenario in peers.SCENARIOS:
        assert scenario in SCENARIOS
        assert scenario.family in ("node-v2", "python-socketio")
        assert scenario.name.startswith(("v2-", "py-"))
        assert scenario.port < 32768  # below the ephemeral range


def test_expectations_name_only_expectable_fields() -> None:
    for scenario in peers.SCENARIOS:
        for fields in scenario.expected.values():
            assert set(fields) <= set(EXPECTABLE), scenario.name


@pytest.mark.slow
@pytest.mark.lab
def test_python_client_and_server_end_to_end(tmp_path: Path) -> None:
    problems = missing_requirements()
    if problems:
        pytest.skip("; ".join(problems))
    truth_path = run_scenario(by_name("py-both-disconnect"), tmp_path, tmp_path / "work", 0)
    truth = json.loads(truth_path.read_text())
    assert "python-socketio" in truth["versions"]
    [session] = truth["sessions"]
    assert session["eio"] == 4 and session["peer"] == "client-1"
    assert session["transports"] == ["polling", "websocket"]
    assert session["client_close"]["reason"] == "client disconnect"
    assert session["server_close"] is not None
    [socket] = session["sockets"]
    assert socket["id"] and socket["id"] != session["sid"]
    assert socket["server_disconnect"] is not None
    assert socket["client_disconnect"]["reason"] == "client disconnect"

"""Truth building from crafted event logs (no processes, no network)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from captures.lab import manifest
from captures.lab.sandbox import read_events
from captures.lab.scenario import Scenario
from captures.lab.truth import CaptureMeta, build_truth, validate

T0 = 1_700_000_000.0
META = CaptureMeta("x.pcap", "127.0.0.1:3000", "tcp port 3000", T0, T0 + 10)


class Crafted(Scenario):
    name = "crafted"
    description = "crafted events"
    root_cause = "client-disconnect"
    expected = {"client-*": {"server_close": "transport close"}}  # noqa: RUF012


def ev(t: float, side: str, peer: str, event: str, **fields: Any) -> dict[str, Any]:
    return {"t": T0 + t, "side": side, "peer": peer, "lib": "x@1", "event": event, **fields}


def two_sessions() -> list[dict[str, Any]]:
    return [
        ev(
            0.1,
            "server",
            "server",
            "engine_open",
            sid="A",
            transport="polling",
            eio=4,
            client_peer="client-1",
        ),
        ev(0.1, "client", "client-1", "engine_open", sid="A", transport="polling"),
        ev(0.2, "client", "client-1", "socket_connect", sid="A", nsp="/", socket_id="s1"),
        ev(0.2, "server", "server", "socket_connect", sid="A", nsp="/", socket_id="s1"),
        ev(0.3, "client", "client-1", "engine_upgrade", sid="A", transport="websocket"),
        ev(
            1.0,
            "server",
            "server",
            "socket_disconnect",
            sid="A",
            nsp="/",
            socket_id="s1",
            reason="ping timeout",
            description=None,
        ),
        ev(
            1.0,
            "server",
            "server",
            "engine_close",
            sid="A",
            reason="ping timeout",
            description=None,
        ),
        ev(2.0, "client", "client-1", "engine_open", sid="B", transport="polling"),
        ev(2.1, "client", "client-1", "connect_error", sid="B", nsp="/admin", message="no"),
        ev(11.0, "client", "client-1", "engine_close", sid="B", reason="late", description=None),
        ev(0.5, "server", "server", "note", kind="versions", versions={"socket.io": "4.8.4"}),
    ]


def test_sessions_are_grouped_by_sid_and_linked() -> None:
    truth = build_truth(two_sessions(), Crafted(), META, [])
    validate(truth)
    first, second = truth["sessions"]
    assert (first["sid"], second["sid"]) == ("A", "B")
    assert first["transports"] == ["polling", "websocket"]
    assert first["server_close"]["reason"] == "ping timeout"
    assert first["client_close"] is None
    assert first["sockets"][0]["server_disconnect"]["reason"] == "ping timeout"
    assert second["previous_sid"] == "A"
    assert second["sockets"][0]["connect_error"] == "no"
    assert truth["versions"] == {"socket.io": "4.8.4"}


def test_events_after_capture_end_are_ignored() -> None:
    truth = build_truth(two_sessions(), Crafted(), META, [])
    assert truth["sessions"][1]["client_close"] is None
    assert truth["sessions"][1]["root_cause"] == "capture-ended"


def test_unexpected_reason_becomes_a_note_not_truth() -> None:
    truth = build_truth(two_sessions(), Crafted(), META, ["lab 1: did it"])
    assert truth["sessions"][0]["server_close"]["reason"] == "ping timeout"
    assert any(n.startswith("surprise:") and "'transport close'" in n for n in truth["notes"])
    assert truth["notes"][0] == "lab 1: did it"


def test_schema_rejects_bad_documents() -> None:
    good = build_truth(two_sessions(), Crafted(), META, [])
    mutations: list[Callable[[dict[str, Any]], object]] = [
        lambda d: d["sessions"][0].update(root_cause="because"),
        lambda d: d["sessions"][0].update(eio=5),
        lambda d: d.pop("notes"),
        lambda d: d["capture"].update(file="../x.pcap"),
    ]
    for mutate in mutations:
        bad = copy.deepcopy(good)
        mutate(bad)
        with pytest.raises(jsonschema.ValidationError):
            validate(bad)


def test_manifest_update_replaces_entry(tmp_path: Any) -> None:
    truth = build_truth(two_sessions(), Crafted(), META, [])
    path = tmp_path / "manifest.json"
    manifest.update(path, truth)
    manifest.update(path, truth)
    entries = manifest.load(path)
    assert len(entries) == 1
    assert entries[0]["sessions"][0]["server_reason"] == "ping timeout"


@settings(max_examples=100, deadline=None)
@given(st.text())
def test_event_log_reader_survives_any_text(tmp_path_factory: Any, text: str) -> None:
    path = tmp_path_factory.mktemp("events") / "events.jsonl"
    path.write_text(text)
    assert all(isinstance(rec, dict) for rec in read_events(path))

"""Every truth file: the sessions decoded from its capture are the sessions the libraries saw."""

from __future__ import annotations

from typing import Any

from tests.e2e.conftest import analysis_of


def _capture_name(truth: dict[str, Any]) -> str:
    return str(truth["capture"]["file"]).rsplit("/", 1)[-1]


def test_sessions_match_truth(truth: dict[str, Any]) -> None:
    analysis = analysis_of(_capture_name(truth))
    found = {s.sid: s for s in analysis.sessions}
    expected = {s["sid"]: s for s in truth["sessions"]}
    assert sorted(found) == sorted(expected)
    for sid, want in expected.items():
        got = found[sid]
        assert list(got.transports) == want["transports"], sid
        assert got.eio == want["eio"], sid


def test_namespace_sockets_match_truth(truth: dict[str, Any]) -> None:
    analysis = analysis_of(_capture_name(truth))
    found = {s.sid: s for s in analysis.sessions}
    for want in truth["sessions"]:
        got = found.get(want["sid"])
        assert got is not None, want["sid"]
        want_sockets = sorted((k["nsp"], k["id"]) for k in want["sockets"] if k.get("id"))
        got_sockets = sorted((k.nsp, k.id) for k in got.sockets if k.id)
        assert got_sockets == want_sockets, want["sid"]


def test_connect_errors_match_truth(truth: dict[str, Any]) -> None:
    analysis = analysis_of(_capture_name(truth))
    found = {s.sid: s for s in analysis.sessions}
    for want in truth["sessions"]:
        for sock in want["sockets"]:
            if sock.get("connect_error"):
                got = found[want["sid"]]
                errors = {k.nsp: k.connect_error for k in got.sockets if k.connect_error}
                assert errors.get(sock["nsp"]) == sock["connect_error"], want["sid"]

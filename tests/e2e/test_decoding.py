"""Every truth file: the sessions decoded from its capture are the sessions the libraries saw."""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from analyzer.classify import observe
from analyzer.model import digest_of
from tests.e2e.conftest import CAPTURES, analysis_for, analysis_of, load_truth, truth_files


def _capture_name(truth: dict[str, Any]) -> str:
    return str(truth["capture"]["file"]).rsplit("/", 1)[-1]


@cache
def _wire_bytes(name: str) -> bytes:
    return (CAPTURES / name).read_bytes()


def test_sessions_match_truth(truth: dict[str, Any]) -> None:
    analysis = analysis_for(truth)
    found = {s.sid: s for s in analysis.sessions}
    expected = {s["sid"]: s for s in truth["sessions"]}
    assert sorted(found) == sorted(expected)
    for sid, want in expected.items():
        got = found[sid]
        assert list(got.transports) == want["transports"], sid
        assert got.eio == want["eio"], sid


def test_namespace_sockets_match_truth(truth: dict[str, Any]) -> None:
    """Sockets whose id went over the wire are found; no socket is invented.

    A server can accept a namespace and log its id while the reply never reaches the wire
    (it went out on a request another node answered); such a socket is not in the capture.
    """
    name = _capture_name(truth)
    analysis = analysis_for(truth)
    wire = _wire_bytes(name)
    found = {s.sid: s for s in analysis.sessions}
    for want in truth["sessions"]:
        got = found.get(want["sid"])
        assert got is not None, want["sid"]
        truth_sockets = {(k["nsp"], k["id"]) for k in want["sockets"] if k.get("id")}
        visible = {(nsp, sid) for nsp, sid in truth_sockets if sid.encode() in wire}
        got_sockets = {(k.nsp, k.id) for k in got.sockets if k.id}
        assert visible <= got_sockets, want["sid"]
        assert got_sockets <= truth_sockets, want["sid"]


def test_connect_errors_match_truth(truth: dict[str, Any]) -> None:
    """CONNECT_ERROR packets carry the message the client's connect_error handler gets."""
    analysis = analysis_for(truth)
    found = {s.sid: s for s in analysis.sessions}
    for want in truth["sessions"]:
        for sock in want["sockets"]:
            message = sock.get("connect_error")
            if message and message.encode() in _wire_bytes(_capture_name(truth)):
                got = found[want["sid"]]
                errors = {k.nsp: k.connect_error for k in got.sockets if k.connect_error}
                assert errors.get(sock["nsp"]) == message, want["sid"]


def test_tls_connections_are_reported(tls_truth: dict[str, Any]) -> None:
    """Without its key log a TLS capture is recognised and reported, not guessed at."""
    analysis = analysis_of(_capture_name(tls_truth))
    assert analysis.tls_connections > 0
    assert analysis.sessions == ()
    assert analysis_for(tls_truth).sessions != ()


def test_har_recorded_in_the_same_run_gives_the_same_sessions(har_truth: dict[str, Any]) -> None:
    truth = har_truth
    har = truth["capture"]["har"]
    from_har = analysis_of(str(har))
    from_pcap = analysis_for(truth)
    assert from_har.info.format.value == "har"
    assert sorted(s.sid for s in from_har.sessions) == sorted(s["sid"] for s in truth["sessions"])
    pcap_view = {
        s.sid: (s.transports, s.eio, {(k.nsp, k.id) for k in s.sockets}) for s in from_pcap.sessions
    }
    har_view = {
        s.sid: (s.transports, s.eio, {(k.nsp, k.id) for k in s.sockets}) for s in from_har.sessions
    }
    assert har_view == pcap_view


def test_timeline_digests_are_the_timelines_own() -> None:
    """The builder gathers each session's digest line by line; read off the finished
    timeline it is the same, and the classifier observes the same either way."""
    seen = {"malformed": 0, "connect-error": 0, "server packet": 0}
    for path in truth_files():
        for session in analysis_for(load_truth(path)).sessions:
            assert session.digest is not None
            assert session.digest == digest_of(session.timeline), (path.name, session.sid)
            unread = dataclasses.replace(session, digest=None)
            assert observe(unread) == observe(session), (path.name, session.sid)
            seen["malformed"] += len(session.digest.malformed)
            seen["connect-error"] += len(session.digest.connect_errors)
            seen["server packet"] += session.digest.last_server_packet_ns > 0
    assert all(seen.values()), seen  # the captures exercise every part of the digest

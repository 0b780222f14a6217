"""Every truth file: each non-null reason the libraries reported, each root cause and each
reconnect link equals the report (issue 4's bar: 100 %)."""

from __future__ import annotations

from typing import Any

from analyzer import NamespaceSocket, Session
from analyzer.classify import classify, observe
from tests.e2e.conftest import analysis_for, analysis_of


def _reason(close: dict[str, Any] | None) -> str | None:
    return None if close is None else close.get("reason")


def _sessions(truth: dict[str, Any]) -> dict[str, Session]:
    return {s.sid: s for s in analysis_for(truth).sessions}


def _match_socket(got: Session, want: dict[str, Any]) -> NamespaceSocket | None:
    """By socket id; a socket whose id never reached the wire, by namespace among the
    sockets the capture could not name."""
    same_id = next((k for k in got.sockets if want.get("id") and k.id == want["id"]), None)
    return same_id or next((k for k in got.sockets if k.nsp == want["nsp"] and k.id is None), None)


def _check(truth: dict[str, Any], capture: str) -> list[str]:
    found = _sessions(truth)
    wrong = []
    for want in truth["sessions"]:
        got = found[want["sid"]]
        checks = [
            ("engine server_reason", _reason(want["server_close"]), got.verdict.server_reason),
            ("engine client_reason", _reason(want["client_close"]), got.verdict.client_reason),
            ("cause", want["root_cause"], got.verdict.cause),
        ]
        for sock in want["sockets"]:
            mine = _match_socket(got, sock)
            for side, key in (("server", "server_disconnect"), ("client", "client_disconnect")):
                wanted = _reason(sock[key])
                if wanted is not None:
                    have = getattr(mine.verdict, f"{side}_reason") if mine else "<no socket>"
                    checks.append((f"socket {sock['nsp']} {side}_reason", wanted, have))
        for name, wanted, have in checks:
            if wanted is not None and wanted != have:
                wrong.append(
                    f"{want['sid']} {want['peer']} {name}: truth {wanted!r}, report {have!r}"
                )
        if want.get("previous_sid") != got.previous_sid:
            wrong.append(
                f"{want['sid']} previous_sid: truth {want.get('previous_sid')!r}, "
                f"report {got.previous_sid!r}"
            )
    return wrong


def test_reasons_causes_and_chains_match_truth(truth: dict[str, Any]) -> None:
    capture = str(truth["capture"]["file"])
    assert _check(truth, capture) == []


def test_every_verdict_has_evidence(truth: dict[str, Any]) -> None:
    found = _sessions(truth)
    for session in found.values():
        assert session.verdict.cause is not None
        assert session.verdict.evidence, session.sid
        assert 0.0 < session.verdict.confidence <= 1.0


def test_har_verdicts_never_contradict_truth(har_truth: dict[str, Any]) -> None:
    """From a HAR recorded in the same run: every label equals the truth, except that a
    session whose end the HAR does not hold (no close frames, no TCP in a HAR) may be
    reported as still open at the end of the capture — never as something else."""
    truth = har_truth
    found = {s.sid: s for s in analysis_of(str(truth["capture"]["har"])).sessions}
    for want in truth["sessions"]:
        got = found[want["sid"]]
        if got.open_at_capture_end and got.verdict.cause == "capture-ended":
            continue
        assert got.verdict.cause == want["root_cause"], want["sid"]
        for mine, theirs in (
            (got.verdict.server_reason, want["server_close"]),
            (got.verdict.client_reason, want["client_close"]),
        ):
            if theirs is not None:
                assert mine == theirs["reason"], want["sid"]
        assert got.previous_sid == want.get("previous_sid"), want["sid"]
        assert got.verdict.confidence < 0.9  # HAR evidence is weaker, and says so


def test_sessions_read_as_they_end_are_judged_as_when_read_at_the_end(
    truth: dict[str, Any],
) -> None:
    """The pipeline reads each session's own facts (`observe`) as it ends; classifying with
    them must be classifying without them, for the capture and for its HAR."""
    for har in (False, True) if truth["capture"].get("har") else (False,):
        analysis = analysis_for(truth, har=har)
        sessions = list(analysis.sessions)
        end_ns = analysis.info.last_ts_ns or 0
        early = [observe(s) for s in sessions]
        read_early = classify(sessions, end_ns, har=har, observed=early)
        read_late = classify(sessions, end_ns, har=har)
        assert read_early == read_late

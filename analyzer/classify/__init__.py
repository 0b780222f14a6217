"""The classifier: every session's end in each library's own words, with a root cause,
a confidence and the evidence behind it; plus capture-level findings."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from analyzer.classify.chains import link_previous, next_opens
from analyzer.classify.crowd import (
    Judged,
    proxy_timeouts,
    reloads,
    server_side_group,
    shared_stalls,
)
from analyzer.classify.engine import decide
from analyzer.classify.facts import Observed, gather, observe
from analyzer.classify.sockets import classify_sockets
from analyzer.model import Evidence, Finding, Session, Verdict
from analyzer.reasons import Cause
from analyzer.sessions import Observation

HAR_PENALTY = 0.2


def classify(
    sessions: list[Session],
    capture_end_ns: int,
    *,
    har: bool = False,
    page_loads: list[Observation] | None = None,
    observed: Sequence[Observed | None] | None = None,
) -> tuple[list[Session], list[Finding]]:
    """`observed`: `observe(session)` of each session, in the same order, for those read
    already (most of the work, done as sessions end while the capture is still decoded)."""
    following = next_opens(sessions) if har else {}  # only a HAR's ends are inferred from it
    seen = observed or [None] * len(sessions)
    judged = [
        Judged(facts, decide(facts))
        for facts in (
            gather(s, capture_end_ns, har, following.get(s.sid), early)
            for s, early in zip(sessions, seen, strict=True)
        )
    ]
    findings: list[Finding] = []
    proxied = proxy_timeouts(judged)
    if proxied:
        findings.append(
            _finding(Cause.PROXY_TIMEOUT, proxied, "sessions cut after the same idle time")
        )
    reloads(judged, page_loads or [])
    stalled = shared_stalls(judged)
    if len(stalled) >= 2:
        findings.append(
            _finding(
                Cause.SERVER_STALLED, stalled, "server pings stopped on several sessions at once"
            )
        )
    for cause in (Cause.SERVER_SHUTDOWN, Cause.SERVER_CRASH):
        group = server_side_group(judged, cause)
        if len(group) >= 2:
            findings.append(
                _finding(cause, group, f"{cause.value}: several sessions ended by the server")
            )
    findings.extend(_session_findings(judged))
    outcomes = {j.session.sid: j.end.client for j in judged}
    ended = {j.session.sid: _ended_at(j) for j in judged}
    links = link_previous([j.session for j in judged], outcomes, ended)
    return [_verdict(j, links.get(j.session.sid), har) for j in judged], findings


def _ended_at(j: Judged) -> int | None:
    """When the session observably ended, or (no close in the capture) when it must have."""
    if j.session.closed_ns is not None:
        return j.session.closed_ns
    acts = [a.ts_ns for a in (j.end.first_client, j.end.first_server) if a is not None]
    return min(acts) if acts else None


def _verdict(j: Judged, previous: str | None, har: bool) -> Session:
    flavors = j.facts.flavors
    end = j.end
    client = None if flavors.raw_client else flavors.client.reason(end.client)
    # Evidence reads in the order things happened; undated observations close the list.
    evidence = sorted(end.evidence, key=lambda e: (e.ts_ns is None, e.ts_ns or 0))
    confidence = end.confidence
    if har:
        confidence = max(0.1, confidence - HAR_PENALTY)
        evidence.append(
            Evidence(
                "HAR input: no TCP segments, no close frames and no ACKs, so "
                "who closed first and whether pings arrived is inferred"
            )
        )
    verdict = Verdict(
        server_reason=flavors.server.reason(end.server),
        client_reason=client,
        cause=end.cause.value,
        confidence=round(confidence, 3),
        evidence=tuple(evidence),
    )
    sockets = classify_sockets(j.session, end, verdict, flavors)
    if flavors.raw_client:
        sockets = tuple(replace(s, verdict=replace(s.verdict, client_reason=None)) for s in sockets)
    closed = _ended_at(j)
    return replace(
        j.session,
        verdict=verdict,
        sockets=sockets,
        previous_sid=previous,
        closed_ns=closed,
        open_at_capture_end=closed is None,
    )


SESSION_FINDINGS = {
    Cause.SESSION_UNKNOWN: "requests of live sessions were answered 400 'Session ID unknown': they "
    "reached a server that does not hold the session (sticky sessions missing?)",
    Cause.PAYLOAD_TOO_LARGE: "messages over the server's maxHttpBufferSize ended sessions",
    Cause.PROTOCOL_ERROR: "peers sent packets the protocol does not allow",
}


def _session_findings(judged: list[Judged]) -> list[Finding]:
    """Causes that point at the deployment rather than one session become findings too."""
    found = []
    for cause, text in SESSION_FINDINGS.items():
        group = [j for j in judged if j.end.cause is cause]
        if group:
            found.append(_finding(cause, group, text))
    failed = [j for j in judged if j.session.upgrade_failed]
    if failed:
        found.append(
            _finding(
                Cause.UPGRADE_FAILED,
                failed,
                "websocket upgrades failed; these sessions stayed on polling",
            )
        )
    return found


def _finding(cause: Cause, group: list[Judged], text: str) -> Finding:
    return Finding(cause.value, len(group), tuple(j.session.sid for j in group), (text,))


__all__ = ["Observed", "classify", "observe"]

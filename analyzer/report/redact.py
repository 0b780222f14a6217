"""`--redact`: replace identifying values by stable pseudonyms before any table is built.

Redaction works on the model, so every format (JSON included) shows the same pseudonyms.
A pseudonym is a short sha256 of a fixed project prefix, an optional key and the value:
the same value gets the same pseudonym in every run and every format, so two reports can
still be compared. Without a key a guessable value (an IP address) can be confirmed by
hashing candidates; set a key (``SIOSCOPE_REDACT_KEY``) when that matters.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
from collections.abc import Iterable

from analyzer.core import Diagnostic, Endpoint
from analyzer.model import (
    Analysis,
    Evidence,
    Finding,
    NamespaceSocket,
    Session,
    TimelineEvent,
    Verdict,
)

PREFIX = b"sioscope-redact-v1\x00"
DIGITS = 8
# Timeline texts that carry application data after a fixed lead: `/chat: event "msg" ack 3`.
_EVENT_TEXT = re.compile(r"^(?P<lead>\S*: event )(?P<data>.+?)(?P<ack> ack \d+)?$")


class Redactor:
    """Maps identifying strings to pseudonyms and rewrites free text that mentions them."""

    def __init__(self, key: bytes = b"") -> None:
        self._key = key
        self._known: dict[str, str] = {}
        self._pattern: re.Pattern[str] | None = None

    def pseudonym(self, kind: str, value: str) -> str:
        """`kind-xxxxxxxx`: deterministic for (key, kind, value)."""
        digest = hashlib.sha256(PREFIX + self._key + b"\x00" + f"{kind}\x00{value}".encode())
        return f"{kind}-{digest.hexdigest()[:DIGITS]}"

    def learn(self, kind: str, value: str | None) -> str | None:
        """Remember a value so free text mentioning it is rewritten too."""
        if value is None or value == "":
            return value
        alias = self._known.get(value)
        if alias is None:
            alias = self.pseudonym(kind, value)
            self._known[value] = alias
            self._pattern = None
        return alias

    def endpoint(self, ep: Endpoint | None) -> Endpoint | None:
        if ep is None:
            return None
        self.learn("ip", ep.ip)
        return Endpoint(self._known[ep.ip], ep.port)

    def text(self, text: str) -> str:
        """Free text with every learned value replaced (whole tokens only)."""
        if not self._known or not text:
            return text
        if self._pattern is None:
            values = sorted(self._known, key=lambda v: (-len(v), v))
            alternation = "|".join(re.escape(v) for v in values)
            self._pattern = re.compile(rf"(?<![\w.:-])(?:{alternation})(?![\w-]|\.\d)")
        return self._pattern.sub(lambda m: self._known[m.group(0)], text)


def redact_analyses(analyses: Iterable[Analysis], key: bytes = b"") -> list[Analysis]:
    """Every analysis with addresses, sids, socket ids, auth and payloads pseudonymised."""
    items = list(analyses)
    redactor = Redactor(key)
    for analysis in items:  # learn every identifier first so any text can mention any of them
        _learn_identifiers(redactor, analysis)
    return [_redact_analysis(redactor, a) for a in items]


def _learn_identifiers(r: Redactor, analysis: Analysis) -> None:
    for s in analysis.sessions:
        r.endpoint(s.client)
        r.endpoint(s.server)
        r.learn("sid", s.sid)
        r.learn("sid", s.previous_sid)
        for sock in s.sockets:
            r.learn("sock", sock.id)
            r.learn("pid", sock.pid)
            r.learn("pid", sock.recovered_from)
    for f in analysis.findings:
        for sid in f.sessions:
            r.learn("sid", sid)


def _redact_analysis(r: Redactor, analysis: Analysis) -> Analysis:
    return dataclasses.replace(
        analysis,
        sessions=tuple(_redact_session(r, s) for s in analysis.sessions),
        findings=tuple(_redact_finding(r, f) for f in analysis.findings),
        diagnostics=tuple(_redact_diagnostic(r, d) for d in analysis.diagnostics),
    )


def _redact_session(r: Redactor, s: Session) -> Session:
    return dataclasses.replace(
        s,
        sid=r.learn("sid", s.sid) or s.sid,
        previous_sid=r.learn("sid", s.previous_sid),
        client=r.endpoint(s.client),
        server=r.endpoint(s.server),
        sockets=tuple(_redact_socket(r, sock) for sock in s.sockets),
        timeline=tuple(_redact_event(r, ev) for ev in s.timeline),
        verdict=_redact_verdict(r, s.verdict),
        digest=None,  # its lines are the timeline's, unredacted: read off the redacted one
    )


def _redact_socket(r: Redactor, sock: NamespaceSocket) -> NamespaceSocket:
    auth = None if sock.auth is None else r.pseudonym("auth", repr(sock.auth))
    return dataclasses.replace(
        sock,
        id=r.learn("sock", sock.id),
        pid=r.learn("pid", sock.pid),
        recovered_from=r.learn("pid", sock.recovered_from),
        auth=auth,
        verdict=_redact_verdict(r, sock.verdict),
    )


def _redact_event(r: Redactor, ev: TimelineEvent) -> TimelineEvent:
    text = r.text(ev.text)
    match = _EVENT_TEXT.match(text)
    if match:
        data = r.pseudonym("payload", match.group("data"))
        text = f"{match.group('lead')}{data}{match.group('ack') or ''}"
    detail = r.pseudonym("payload", ev.detail) if ev.detail else ""
    return dataclasses.replace(ev, text=text, detail=detail)


def _redact_verdict(r: Redactor, v: Verdict) -> Verdict:
    evidence = tuple(Evidence(r.text(e.text), e.ts_ns) for e in v.evidence)
    return dataclasses.replace(v, evidence=evidence)


def _redact_finding(r: Redactor, f: Finding) -> Finding:
    return dataclasses.replace(
        f,
        sessions=tuple(r.learn("sid", sid) or sid for sid in f.sessions),
        evidence=tuple(r.text(t) for t in f.evidence),
    )


def _redact_diagnostic(r: Redactor, d: Diagnostic) -> Diagnostic:
    return dataclasses.replace(d, where=r.text(d.where), message=r.text(d.message))

"""The pandas tables behind every report format, built once from the public model.

Writers only format these tables; they never walk the model themselves. Every table has
a `capture` column (the capture's path) so several captures share one table. Times are
epoch seconds rounded to microseconds; multi-valued cells (evidence) are joined with
newlines so each table stays flat enough for CSV.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import pandas as pd

from analyzer.core import NS_PER_S, ns_to_s
from analyzer.model import Analysis, Evidence, NamespaceSocket, Session, Verdict

CAPTURE_COLUMNS: dict[str, str] = {
    "capture": "object",
    "format": "object",
    "packets": "Int64",
    "bytes": "Int64",
    "first_ts": "float64",
    "last_ts": "float64",
    "truncated": "bool",
    "tls_connections": "Int64",
    "sessions": "Int64",
    "findings": "Int64",
    "diagnostics": "Int64",
}
SESSION_COLUMNS: dict[str, str] = {
    "capture": "object",
    "sid": "object",
    "eio": "Int64",
    "client": "object",
    "server": "object",
    "transports": "object",
    "opened_at": "float64",
    "closed_at": "float64",
    "last_seen_at": "float64",
    "duration_s": "float64",
    "open_at_end": "bool",
    "upgraded_at": "float64",
    "ping_interval_ms": "Int64",
    "ping_timeout_ms": "Int64",
    "namespaces": "object",
    "sockets": "Int64",
    "pings": "Int64",
    "unanswered_pings": "Int64",
    "idle_before_close_s": "float64",
    "server_reason": "object",
    "client_reason": "object",
    "cause": "object",
    "confidence": "float64",
    "evidence": "object",
    "previous_sid": "object",
    "handshake_seen": "bool",
    "upgrade_failed": "bool",
    "user_agent": "object",
    "timeline_events": "Int64",
}
SOCKET_COLUMNS: dict[str, str] = {
    "capture": "object",
    "sid": "object",
    "nsp": "object",
    "id": "object",
    "connected_at": "float64",
    "disconnected_at": "float64",
    "server_reason": "object",
    "client_reason": "object",
    "cause": "object",
    "confidence": "float64",
    "connect_error": "object",
    "disconnect_packet_from": "object",
    "recovered": "bool",
    "evidence": "object",
}
FINDING_COLUMNS: dict[str, str] = {
    "capture": "object",
    "kind": "object",
    "count": "Int64",
    "sessions": "object",
    "evidence": "object",
}
EVENT_COLUMNS: dict[str, str] = {
    "capture": "object",
    "sid": "object",
    "ts": "float64",
    "offset_s": "float64",
    "side": "object",
    "layer": "object",
    "kind": "object",
    "text": "object",
    "conn": "Int64",
    "detail": "object",
}
DIAGNOSTIC_COLUMNS: dict[str, str] = {
    "capture": "object",
    "code": "object",
    "severity": "object",
    "where": "object",
    "message": "object",
}


@dataclass(slots=True, eq=False)
class ReportTables:
    """Every table of a report; one row per capture, session, socket, finding, event, diagnostic.

    The events table (one row per timeline line of every session: millions on a large
    capture) is built on first use, as only the CSV and HTML writers read it.
    """

    captures: pd.DataFrame
    sessions: pd.DataFrame
    sockets: pd.DataFrame
    findings: pd.DataFrame
    diagnostics: pd.DataFrame
    analyses: list[Analysis]
    _events: pd.DataFrame | None = None

    @property
    def events(self) -> pd.DataFrame:
        if self._events is None:
            self._events = _frame(_event_rows(self.analyses), EVENT_COLUMNS)
        return self._events

    def named(self) -> dict[str, pd.DataFrame]:
        """Tables by file stem, in a fixed order (CSV writes one file each)."""
        return {
            "captures": self.captures,
            "sessions": self.sessions,
            "sockets": self.sockets,
            "findings": self.findings,
            "events": self.events,
            "diagnostics": self.diagnostics,
        }


def build_tables(analyses: Iterable[Analysis]) -> ReportTables:
    items = list(analyses)
    return ReportTables(
        captures=_frame(map(_capture_row, items), CAPTURE_COLUMNS),
        sessions=_frame(_session_rows(items), SESSION_COLUMNS),
        sockets=_frame(_socket_rows(items), SOCKET_COLUMNS),
        findings=_frame(_finding_rows(items), FINDING_COLUMNS),
        diagnostics=_frame(_diagnostic_rows(items), DIAGNOSTIC_COLUMNS),
        analyses=items,
    )


def seconds(ts_ns: int | None) -> float | None:
    return None if ts_ns is None else round(ns_to_s(ts_ns), 6)


def duration_s(start_ns: int, end_ns: int) -> float:
    return round((end_ns - start_ns) / NS_PER_S, 6)


def idle_before_close_ns(session: Session) -> int | None:
    """Silence before the close: what a proxy's idle timeout leaves behind."""
    if session.closed_ns is None or session.open_at_capture_end:
        return None
    before = [
        ev.ts_ns for ev in session.timeline if ev.side is not None and ev.ts_ns < session.closed_ns
    ]
    return session.closed_ns - max(before) if before else None


def _frame(rows: Iterable[dict[str, Any]], columns: dict[str, str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    return _with_none(frame.astype(columns), columns)


def _with_none(frame: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    """Missing strings are None (never NaN) so every writer tests one thing."""
    for column, dtype in columns.items():
        if dtype == "object":
            frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame


def _session_rows(items: list[Analysis]) -> Iterator[dict[str, Any]]:
    for analysis in items:
        for session in analysis.sessions:
            yield _session_row(analysis.info.path, session)


def _capture_row(analysis: Analysis) -> dict[str, Any]:
    info = analysis.info
    return {
        "capture": info.path,
        "format": info.format.value,
        "packets": info.packets,
        "bytes": info.bytes,
        "first_ts": seconds(info.first_ts_ns),
        "last_ts": seconds(info.last_ts_ns),
        "truncated": info.truncated,
        "tls_connections": analysis.tls_connections,
        "sessions": len(analysis.sessions),
        "findings": len(analysis.findings),
        "diagnostics": len(analysis.diagnostics),
    }


def _session_row(capture: str, s: Session) -> dict[str, Any]:
    end_ns = s.closed_ns if s.closed_ns is not None else s.last_seen_ns
    idle = idle_before_close_ns(s)
    return {
        "capture": capture,
        "sid": s.sid,
        "eio": s.eio,
        "client": str(s.client) if s.client else None,
        "server": str(s.server) if s.server else None,
        "transports": ",".join(s.transports),
        "opened_at": seconds(s.opened_ns),
        "closed_at": seconds(s.closed_ns),
        "last_seen_at": seconds(s.last_seen_ns),
        "duration_s": duration_s(s.opened_ns, end_ns),
        "open_at_end": s.open_at_capture_end,
        "upgraded_at": seconds(s.upgraded_ns),
        "ping_interval_ms": s.ping_interval_ms,
        "ping_timeout_ms": s.ping_timeout_ms,
        "namespaces": " ".join(sorted({sock.nsp for sock in s.sockets})),
        "sockets": len(s.sockets),
        "pings": len(s.heartbeats),
        "unanswered_pings": sum(1 for h in s.heartbeats if not h.answered),
        "idle_before_close_s": None if idle is None else round(idle / NS_PER_S, 6),
        **_verdict_cells(s.verdict),
        "previous_sid": s.previous_sid,
        "handshake_seen": s.handshake_seen,
        "upgrade_failed": s.upgrade_failed,
        "user_agent": s.user_agent,
        "timeline_events": len(s.timeline),
    }


def _verdict_cells(v: Verdict) -> dict[str, Any]:
    return {
        "server_reason": v.server_reason,
        "client_reason": v.client_reason,
        "cause": v.cause,
        "confidence": round(v.confidence, 3),
        "evidence": _lines(v.evidence),
    }


def _lines(evidence: Iterable[Evidence | str]) -> str:
    return "\n".join(e if isinstance(e, str) else e.text for e in evidence)


def _socket_rows(items: list[Analysis]) -> Iterator[dict[str, Any]]:
    for analysis in items:
        for s in analysis.sessions:
            for sock in s.sockets:
                yield _socket_row(analysis.info.path, s.sid, sock)


def _socket_row(capture: str, sid: str, sock: NamespaceSocket) -> dict[str, Any]:
    who = sock.disconnect_packet_from
    return {
        "capture": capture,
        "sid": sid,
        "nsp": sock.nsp,
        "id": sock.id,
        "connected_at": seconds(sock.connected_ns),
        "disconnected_at": seconds(sock.disconnected_ns),
        **_verdict_cells(sock.verdict),
        "connect_error": sock.connect_error,
        "disconnect_packet_from": who.value if who else None,
        "recovered": sock.recovered_from is not None,
    }


def _finding_rows(items: list[Analysis]) -> Iterator[dict[str, Any]]:
    for analysis in items:
        for f in analysis.findings:
            yield {
                "capture": analysis.info.path,
                "kind": f.kind,
                "count": f.count,
                "sessions": " ".join(f.sessions),
                "evidence": _lines(f.evidence),
            }


def _event_rows(items: list[Analysis]) -> Iterator[dict[str, Any]]:
    for analysis in items:
        for s in analysis.sessions:
            for ev in s.timeline:
                yield {
                    "capture": analysis.info.path,
                    "sid": s.sid,
                    "ts": seconds(ev.ts_ns),
                    "offset_s": duration_s(s.opened_ns, ev.ts_ns),
                    "side": ev.side.value if ev.side else None,
                    "layer": ev.layer.value,
                    "kind": ev.kind,
                    "text": ev.text,
                    "conn": ev.conn,
                    "detail": ev.detail or None,
                }


def _diagnostic_rows(items: list[Analysis]) -> Iterator[dict[str, Any]]:
    for analysis in items:
        for d in analysis.diagnostics:
            yield {
                "capture": analysis.info.path,
                "code": d.code,
                "severity": d.severity.value,
                "where": d.where,
                "message": d.message,
            }

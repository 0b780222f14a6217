"""The JSON report of design §5 — a contract: fields are added, never renamed or removed."""

from __future__ import annotations

import json
from typing import Any

from analyzer import __version__
from analyzer.core import ns_to_s
from analyzer.model import Analysis, NamespaceSocket, Session, Verdict

SCHEMA = "sioscope/report-v1"


def _ts(ts_ns: int | None) -> float | None:
    return None if ts_ns is None else round(ns_to_s(ts_ns), 6)


def report_dict(analysis: Analysis) -> dict[str, Any]:
    info = analysis.info
    return {
        "schema": SCHEMA,
        "tool": {"name": "sioscope", "version": __version__},
        "input": {
            "path": info.path,
            "format": info.format.value,
            "packets": info.packets,
            "bytes": info.bytes,
            "first_ts": _ts(info.first_ts_ns),
            "last_ts": _ts(info.last_ts_ns),
            "truncated": info.truncated,
            "tls_connections": analysis.tls_connections,
        },
        "sessions": [session_dict(s) for s in analysis.sessions],
        "findings": [
            {
                "kind": f.kind,
                "count": f.count,
                "sessions": list(f.sessions),
                "evidence": list(f.evidence),
            }
            for f in analysis.findings
        ],
        "diagnostics": [
            {"code": d.code, "severity": d.severity.value, "where": d.where, "message": d.message}
            for d in analysis.diagnostics
        ],
        "summary": summary_dict(analysis),
    }


def session_dict(s: Session) -> dict[str, Any]:
    return {
        "sid": s.sid,
        "eio": s.eio,
        "client": str(s.client) if s.client else None,
        "server": str(s.server) if s.server else None,
        "transports": list(s.transports),
        "opened_at": _ts(s.opened_ns),
        "closed_at": _ts(s.closed_ns),
        "ping_interval_ms": s.ping_interval_ms,
        "ping_timeout_ms": s.ping_timeout_ms,
        "previous_sid": s.previous_sid,
        "end": _verdict_dict(s.verdict),
        "sockets": [_socket_dict(sock) for sock in s.sockets],
        "upgraded_at": _ts(s.upgraded_ns),
        "last_seen_at": _ts(s.last_seen_ns),
        "open_at_capture_end": s.open_at_capture_end,
        "handshake_seen": s.handshake_seen,
        "upgrade_failed": s.upgrade_failed,
        "user_agent": s.user_agent,
        "heartbeats": {
            "pings": len(s.heartbeats),
            "unanswered": sum(1 for h in s.heartbeats if not h.answered),
        },
    }


def _verdict_dict(v: Verdict) -> dict[str, Any]:
    return {
        "server_reason": v.server_reason,
        "client_reason": v.client_reason,
        "cause": v.cause,
        "confidence": round(v.confidence, 3),
        "evidence": [e.text for e in v.evidence],
    }


def _socket_dict(sock: NamespaceSocket) -> dict[str, Any]:
    return {
        "nsp": sock.nsp,
        "id": sock.id,
        "connected_at": _ts(sock.connected_ns),
        "disconnected_at": _ts(sock.disconnected_ns),
        "server_reason": sock.verdict.server_reason,
        "client_reason": sock.verdict.client_reason,
        "cause": sock.verdict.cause,
        "connect_error": sock.connect_error,
    }


def summary_dict(analysis: Analysis) -> dict[str, Any]:
    sessions = analysis.sessions
    by_cause: dict[str, int] = {}
    by_transport: dict[str, int] = {}
    for s in sessions:
        cause = s.verdict.cause or "unclassified"
        by_cause[cause] = by_cause.get(cause, 0) + 1
        final = s.transports[-1] if s.transports else "unknown"
        by_transport[final] = by_transport.get(final, 0) + 1
    return {
        "sessions": len(sessions),
        "sockets": sum(len(s.sockets) for s in sessions),
        "open_at_end": sum(1 for s in sessions if s.open_at_capture_end),
        "by_cause": dict(sorted(by_cause.items())),
        "by_final_transport": dict(sorted(by_transport.items())),
        "findings": len(analysis.findings),
        "diagnostics": len(analysis.diagnostics),
    }


def render_json(analyses: list[Analysis], gates: dict[str, Any] | None = None) -> str:
    """One capture: the report object; several: {"schema", "reports": [...]}.

    `gates` (added field): the verdict of `--fail-on`/`--max-share`, present only when set.
    """
    if len(analyses) == 1:
        payload: dict[str, Any] = report_dict(analyses[0])
    else:
        payload = {
            "schema": "sioscope/report-set-v1",
            "reports": [report_dict(a) for a in analyses],
        }
    if gates is not None:
        payload["gates"] = gates
    return json.dumps(payload, indent=2, ensure_ascii=False) + "\n"

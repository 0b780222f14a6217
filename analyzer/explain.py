"""`sioscope explain`: how one session ended, told as a short story with its evidence."""

from __future__ import annotations

from analyzer.core import NS_PER_S
from analyzer.model import Analysis, Session
from analyzer.reasons import Cause

CAUSE_TEXT = {
    Cause.CLIENT_DISCONNECT: "the client application disconnected on purpose",
    Cause.SERVER_DISCONNECT: "the server application disconnected the client on purpose",
    Cause.CLIENT_LEFT: "the client went away (page closed, process ended) without saying goodbye",
    Cause.CLIENT_RELOAD: "the page was reloaded: the old page's session ended and a new one began",
    Cause.NETWORK_LOSS: "the network path between client and server stopped delivering packets",
    Cause.CLIENT_STALLED: "the client's host received the pings but the client never answered "
    "(a frozen tab, a blocked or suspended process)",
    Cause.SERVER_STALLED: "the server stopped sending pings on time (a blocked event loop)",
    Cause.SERVER_SHUTDOWN: "the server closed its sessions while shutting down",
    Cause.SERVER_CRASH: "the server side vanished without closing the session (crash or kill)",
    Cause.PROXY_TIMEOUT: "a proxy between client and server cut the connection after an idle time",
    Cause.SESSION_UNKNOWN: "a request reached a server that did not know the session",
    Cause.UPGRADE_FAILED: "the websocket upgrade failed",
    Cause.PAYLOAD_TOO_LARGE: "a message exceeded the server's maxHttpBufferSize",
    Cause.PROTOCOL_ERROR: "a peer sent something the protocol does not allow",
    Cause.PROTOCOL_MISMATCH: "client and server speak different Engine.IO versions",
    Cause.AUTH_REJECTED: "the server refused the namespace connection (middleware or auth)",
    Cause.CAPTURE_ENDED: "nothing ended it: the session was still open when the capture stopped",
    Cause.UNKNOWN: "the capture does not show why",
}


def explain(analysis: Analysis, session: Session) -> str:
    """A few lines a person reads top to bottom: what, why, the evidence, both logs."""
    v = session.verdict
    lines = [
        f"Session {session.sid} ({' -> '.join(session.transports) or 'no transport'}, "
        f"EIO {session.eio or '?'}, client {session.client or '?'})"
    ]
    lines.append(f"  opened  {_at(analysis, session.opened_ns)}")
    if session.closed_ns is not None:
        lines.append(
            f"  ended   {_at(analysis, session.closed_ns)} after "
            f"{(session.closed_ns - session.opened_ns) / NS_PER_S:.3f} s"
        )
    else:
        lines.append("  still open when the capture ended")
    known = {c.value: c for c in Cause}
    cause = known.get(v.cause or "", Cause.UNKNOWN)
    lines += ["", f"Why: {CAUSE_TEXT[cause]} ({cause.value}, confidence {v.confidence:.2f})."]
    if v.evidence:
        lines += ["", "Evidence:"]
        lines += [f"  - {_stamp(analysis, e.ts_ns)}{e.text}" for e in v.evidence]
    lines += ["", "What each side's log said (or would have said):"]
    lines.append(f"  server engine: {_quote(v.server_reason)}")
    lines.append(f"  client engine: {_quote(v.client_reason)}")
    for sock in session.sockets:
        s = sock.verdict
        name = f"{sock.nsp} ({sock.id or 'no id'})"
        if sock.connect_error:
            lines.append(f"  socket {name}: connect_error {sock.connect_error!r}")
            continue
        lines.append(
            f"  socket {name}: server {_quote(s.server_reason)}, client {_quote(s.client_reason)}"
        )
    if session.previous_sid:
        lines += ["", f"This session replaced {session.previous_sid} (a reconnect)."]
    following = [s.sid for s in analysis.sessions if s.previous_sid == session.sid]
    if following:
        lines.append(f"The client reconnected as {', '.join(following)}.")
    return "\n".join(lines) + "\n"


def _quote(reason: str | None) -> str:
    return f'"{reason}"' if reason is not None else "nothing (that side reported no disconnect)"


def _at(analysis: Analysis, ts_ns: int) -> str:
    start = analysis.info.first_ts_ns or ts_ns
    return f"{ts_ns / NS_PER_S:.6f} (+{(ts_ns - start) / NS_PER_S:.3f} s into the capture)"


def _stamp(analysis: Analysis, ts_ns: int | None) -> str:
    if ts_ns is None:
        return ""
    start = analysis.info.first_ts_ns or ts_ns
    return f"[+{(ts_ns - start) / NS_PER_S:.3f} s] "

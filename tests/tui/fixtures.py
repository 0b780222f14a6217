"""Analysis objects built by hand, so the TUI is tested without a capture or the pipeline."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from analyzer import (
    Analysis,
    CaptureFormat,
    CaptureInfo,
    Diagnostic,
    Endpoint,
    Evidence,
    Finding,
    Heartbeat,
    Layer,
    NamespaceSocket,
    Session,
    Severity,
    Side,
    SioscopeError,
    TimelineEvent,
    Verdict,
)

T0 = 1_700_000_000 * 1_000_000_000  # a fixed epoch so rendered clocks never change
MS = 1_000_000
S = 1_000 * MS
SERVER = Endpoint("10.0.0.1", 3000)


def _handshake(sid: str, at: int) -> list[TimelineEvent]:
    return [
        TimelineEvent(
            at,
            Side.CLIENT,
            Layer.HTTP,
            "request",
            "GET /socket.io/?EIO=4&transport=polling",
            1,
            "GET /socket.io/?EIO=4&transport=polling HTTP/1.1",
        ),
        TimelineEvent(
            at + 2 * MS,
            Side.SERVER,
            Layer.EIO,
            "handshake",
            f"open sid={sid} pingInterval=25000",
            1,
            f'0{{"sid":"{sid}","pingInterval":25000,"pingTimeout":20000}}',
        ),
        TimelineEvent(
            at + 5 * MS, Side.CLIENT, Layer.SIO, "connect-request", "/: connect", 1, "40"
        ),
        TimelineEvent(
            at + 7 * MS,
            Side.SERVER,
            Layer.SIO,
            "connect",
            f"/: connected as x{sid}",
            1,
            f'40{{"sid":"x{sid}"}}',
        ),
    ]


def _pings(at: int, count: int, answered: int) -> tuple[list[TimelineEvent], list[Heartbeat]]:
    events: list[TimelineEvent] = []
    beats: list[Heartbeat] = []
    for n in range(count):
        ping = at + n * 25 * S
        events.append(
            TimelineEvent(ping, Side.SERVER, Layer.EIO, "ping", "ping (2) over websocket", 2, "2")
        )
        if n < answered:
            pong = ping + 3 * MS
            events.append(
                TimelineEvent(pong, Side.CLIENT, Layer.EIO, "pong", "pong (3) after 3.0 ms", 2, "3")
            )
            beats.append(Heartbeat(Side.SERVER, ping, pong, ping + MS))
        else:
            beats.append(Heartbeat(Side.SERVER, ping, None, ping + MS))
    return events, beats


def make_session(
    sid: str,
    *,
    client_port: int = 50000,
    opened: int = T0,
    cause: str | None = "client-disconnect",
    server_reason: str | None = "client namespace disconnect",
    client_reason: str | None = "io client disconnect",
    transports: tuple[str, ...] = ("polling", "websocket"),
    namespaces: tuple[str, ...] = ("/",),
    pings: int = 2,
    answered: int | None = None,
    previous_sid: str | None = None,
    open_at_end: bool = False,
    evidence: Sequence[Evidence] | None = None,
) -> Session:
    """One plausible session: handshake, upgrade, heartbeats, then its end."""
    events = _handshake(sid, opened)
    ping_events, beats = _pings(opened + S, pings, pings if answered is None else answered)
    events += ping_events
    end = opened + S + pings * 25 * S
    if not open_at_end:
        events.append(
            TimelineEvent(end, Side.CLIENT, Layer.SIO, "disconnect", "/: disconnect (1)", 2, "41")
        )
        events.append(
            TimelineEvent(
                end + MS, Side.CLIENT, Layer.WS, "close-frame", "close frame 1000", 2, "code=1000"
            )
        )
    verdict = Verdict(
        server_reason,
        client_reason,
        cause,
        0.9 if cause else 0.0,
        tuple(evidence)
        if evidence is not None
        else (
            Evidence("client sent DISCONNECT for /", end),
            Evidence("client sent a websocket close frame 1000", end + MS),
        ),
    )
    sockets = tuple(
        NamespaceSocket(
            nsp, f"x{sid}", opened + 7 * MS, None if open_at_end else end, verdict=verdict
        )
        for nsp in namespaces
    )
    return Session(
        sid=sid, eio=4, client=Endpoint("10.0.0.2", client_port), server=SERVER,
        transports=transports, opened_ns=opened, last_seen_ns=end + MS,
        closed_ns=None if open_at_end else end + MS, upgraded_ns=opened + 10 * MS,
        ping_interval_ms=25000, ping_timeout_ms=20000, max_payload=1_000_000,
        sockets=sockets, heartbeats=tuple(beats), closes=(), http_failures=(),
        connections=(), timeline=tuple(sorted(events, key=lambda e: e.ts_ns)),
        user_agent="node-XMLHttpRequest", previous_sid=previous_sid,
        open_at_capture_end=open_at_end, verdict=verdict,
    )  # fmt: skip


def sample_sessions() -> list[Session]:
    """Five sessions: a reconnect chain of three, a ping timeout, and one open at the end."""
    return [
        make_session("AAAA", opened=T0),
        make_session(
            "BBBB", opened=T0 + 60 * S, cause="client-stalled", server_reason="ping timeout",
            client_reason=None, pings=3, answered=1, previous_sid="AAAA", namespaces=("/", "/chat"),
            evidence=(Evidence("2 pings reached the client host without a pong", T0 + 87 * S),),
        ),
        make_session("CCCC", opened=T0 + 140 * S, previous_sid="BBBB", transports=("polling",)),
        make_session(
            "DDDD", client_port=50100, opened=T0 + 10 * S, cause="server-shutdown",
            server_reason="server shutting down", client_reason="transport close",
        ),
        make_session(
            "EEEE", client_port=50200, opened=T0 + 20 * S, cause="capture-ended",
            server_reason=None, client_reason=None, open_at_end=True, namespaces=("/admin",),
        ),
    ]  # fmt: skip


def make_analysis(
    sessions: Sequence[Session] | None = None, *, tls: int = 0, path: str = "lab.pcap"
) -> Analysis:
    chosen = tuple(sample_sessions() if sessions is None else sessions)
    info = CaptureInfo(path, CaptureFormat.PCAP, 1234, 56789, T0, T0 + 300 * S, False)
    return Analysis(
        info=info,
        sessions=tuple(sorted(chosen, key=lambda s: s.opened_ns)),
        findings=(Finding("upgrade-failed", 1, ("BBBB",), ("upgrade probe got no answer",)),),
        diagnostics=(Diagnostic("tcp-gap", Severity.WARNING, "packet 17", "10 bytes missing"),),
        tls_connections=tls,
    )


def streaming_load(analysis: Analysis) -> Callable[..., Analysis]:
    """A fake `load` that streams like `analyze()`: progress, then each session, then the result."""

    def load(path: str, *, progress: Callable[[int, int], None] | None = None,
             on_session: Callable[[Session], None] | None = None) -> Analysis:  # fmt: skip
        total = analysis.info.bytes
        for session in analysis.sessions:
            if progress is not None:
                progress(total // 2, total)
            if on_session is not None:
                on_session(session)
        if progress is not None:
            progress(total, total)
        return analysis

    return load


def plain_load(analysis: Analysis) -> Callable[[str], Analysis]:
    """A `load` without streaming callbacks, like the CLI's."""

    def load(path: str) -> Analysis:
        return analysis

    return load


def failing_load(error: Exception) -> Callable[[str], Analysis]:
    def load(path: str) -> Analysis:
        raise error

    return load


def unreadable() -> SioscopeError:
    from analyzer import InputError

    return InputError("not a pcap, pcapng or HAR file", path="junk.bin", where="byte 0")

"""Analyses built by hand, shaped like what the pipeline produces for real captures.

The report writers consume only the public model, so these stand in for captures while
the decoders are being finished: a websocket session the client closed (1005), a polling
session that hit a ping timeout, one cut by a proxy's idle timeout, one still open at
capture end, capture-level findings and a diagnostic.
"""

from __future__ import annotations

import random

from analyzer.capture.base import CaptureFormat, CaptureInfo
from analyzer.core import NS_PER_S, Diagnostic, Endpoint, Severity, Side
from analyzer.model import (
    Analysis,
    EngineClose,
    Evidence,
    Finding,
    Heartbeat,
    Layer,
    NamespaceSocket,
    Session,
    TimelineEvent,
    Verdict,
)

T0 = 1_700_000_000 * NS_PER_S
SERVER = Endpoint("10.0.0.1", 3000)
C, S = Side.CLIENT, Side.SERVER


def at(seconds: float) -> int:
    return T0 + round(seconds * NS_PER_S)


def ev(
    t: float, side: Side | None, layer: Layer, kind: str, text: str, conn: int = 1, detail: str = ""
) -> TimelineEvent:
    return TimelineEvent(at(t), side, layer, kind, text, conn, detail)


def heartbeats(start: float, end: float, every: float, rtt: float) -> list[Heartbeat]:
    beats = []
    t = start + every
    while t < end:
        beats.append(Heartbeat(S, at(t), at(t + rtt)))
        t += every
    return beats


def heartbeat_events(beats: list[Heartbeat], conn: int, over: str) -> list[TimelineEvent]:
    events = []
    for hb in beats:
        events.append(
            TimelineEvent(hb.ping_ns, S, Layer.EIO, "ping", f"ping (2) over {over}", conn)
        )
        if hb.pong_ns is not None:
            rtt = (hb.pong_ns - hb.ping_ns) / 1e6
            text = f"pong (3) after {rtt:.1f} ms"
            events.append(TimelineEvent(hb.pong_ns, C, Layer.EIO, "pong", text, conn))
    return events


def websocket_client_close() -> Session:
    """Client called socket.disconnect(): SIO disconnects, EIO close, close frame 1005."""
    beats = heartbeats(0.05, 61.0, 25.0, 0.0008)
    timeline = [
        ev(0.0, C, Layer.HTTP, "handshake-request", "GET handshake EIO=4 transport=polling"),
        ev(
            0.002,
            S,
            Layer.EIO,
            "handshake",
            "open sid=Ab3dE_fGh1 pingInterval=25000 pingTimeout=20000 upgrades=websocket",
            detail='{"sid":"Ab3dE_fGh1"}',
        ),
        ev(
            0.010,
            C,
            Layer.SIO,
            "connect-request",
            "/: connect request",
            detail='40{"token":"s3cr3t"}',
        ),
        ev(
            0.012,
            S,
            Layer.SIO,
            "connect",
            "/: connected as Xy9_socket1",
            detail='40{"sid":"Xy9_socket1"}',
        ),
        ev(0.020, S, Layer.WS, "ws-open", "websocket 101 for upgrade (permessage-deflate)", 2),
        ev(0.021, C, Layer.EIO, "probe-ping", "ping probe over websocket", 2),
        ev(0.022, S, Layer.EIO, "probe-pong", "pong probe over websocket", 2),
        ev(0.030, C, Layer.EIO, "upgrade", "upgrade (5) over websocket", 2),
        ev(0.040, C, Layer.SIO, "connect-request", "/chat: connect request", 2),
        ev(0.041, S, Layer.SIO, "connect", "/chat: connected as Qq7_socket2", 2),
        ev(
            12.5,
            C,
            Layer.SIO,
            "event",
            '/chat: event "room:hello" ack 1',
            2,
            '42/chat,1["room:hello","secret-hi"]',
        ),
        ev(12.501, S, Layer.SIO, "ack", "/chat: ack ack 1", 2),
        *heartbeat_events(beats, 2, "websocket"),
        ev(61.0, C, Layer.SIO, "disconnect", "/chat: disconnect (1)", 2),
        ev(61.0, C, Layer.SIO, "disconnect", "/: disconnect (1)", 2),
        ev(61.002, C, Layer.WS, "close-frame", "close frame no code (peer reports 1005)", 2),
        ev(61.003, S, Layer.WS, "close-frame", "close frame no code (peer reports 1005)", 2),
        ev(
            61.004,
            C,
            Layer.TCP,
            "tcp-end",
            "TCP websocket connection ended: CLEAN_CLOSE (SF) first by client",
            2,
        ),
    ]
    closing = Verdict(
        "client namespace disconnect",
        "io client disconnect",
        "client-disconnect",
        0.95,
        (Evidence("client sent DISCONNECT for /chat at +61.000 s", at(61.0)),),
    )
    sockets = (
        NamespaceSocket(
            "/",
            "Xy9_socket1",
            at(0.012),
            at(61.0),
            None,
            C,
            auth={"token": "s3cr3t"},
            verdict=closing,
        ),
        NamespaceSocket("/chat", "Qq7_socket2", at(0.041), at(61.0), None, C, verdict=closing),
    )
    verdict = Verdict(
        "transport close",
        "forced close",
        "client-disconnect",
        0.95,
        (
            Evidence("client sent DISCONNECT for its last namespace /", at(61.0)),
            Evidence("client 10.0.0.2:51000 sent a close frame without a code (1005)", at(61.002)),
            Evidence("TCP closed cleanly, client's FIN first", at(61.004)),
        ),
    )
    return Session(
        sid="Ab3dE_fGh1",
        eio=4,
        client=Endpoint("10.0.0.2", 51000),
        server=SERVER,
        transports=("polling", "websocket"),
        opened_ns=at(0.002),
        last_seen_ns=at(61.004),
        closed_ns=at(61.002),
        upgraded_ns=at(0.030),
        ping_interval_ms=25000,
        ping_timeout_ms=20000,
        max_payload=1_000_000,
        sockets=sockets,
        heartbeats=tuple(beats),
        closes=(EngineClose(C, at(61.002), "ws-close-frame", None, ""),),
        http_failures=(),
        connections=(),
        timeline=tuple(sorted(timeline, key=lambda e: e.ts_ns)),
        user_agent="node-XMLHttpRequest",
        verdict=verdict,
    )


def polling_ping_timeout() -> Session:
    """A polling client vanished: the server's pings went unanswered until the timeout."""
    beats = heartbeats(5.0, 60.0, 25.0, 0.003)
    beats[-1] = Heartbeat(S, beats[-1].ping_ns, None)
    timeline = [
        ev(5.0, C, Layer.HTTP, "handshake-request", "GET handshake EIO=4 transport=polling", 7),
        ev(
            5.003,
            S,
            Layer.EIO,
            "handshake",
            "open sid=Pp0Ll_ing2 pingInterval=25000 pingTimeout=20000 upgrades=none",
            7,
        ),
        ev(5.010, C, Layer.HTTP, "post", "POST 2 bytes", 8),
        ev(5.011, C, Layer.SIO, "connect-request", "/: connect request", 8),
        ev(5.020, S, Layer.SIO, "connect", "/: connected as Zz1_socket3", 9),
        *heartbeat_events(beats, 9, "polling"),
        ev(
            75.0,
            None,
            Layer.HTTP,
            "aborted",
            "GET poll aborted: no response before capture end",
            11,
        ),
    ]
    verdict = Verdict(
        "ping timeout",
        None,
        "network-loss",
        0.7,
        (
            Evidence("server ping at +50.000 s got no pong within pingTimeout 20000 ms", at(55.0)),
            Evidence("no packet from client 10.0.0.3:40000 after +30.003 s", at(30.003)),
        ),
    )
    sock = NamespaceSocket(
        "/",
        "Zz1_socket3",
        at(5.020),
        at(75.0),
        verdict=Verdict("ping timeout", None, "network-loss", 0.7),
    )
    return Session(
        sid="Pp0Ll_ing2",
        eio=4,
        client=Endpoint("10.0.0.3", 40000),
        server=SERVER,
        transports=("polling",),
        opened_ns=at(5.003),
        last_seen_ns=at(55.0),
        closed_ns=at(75.0),
        upgraded_ns=None,
        ping_interval_ms=25000,
        ping_timeout_ms=20000,
        max_payload=1_000_000,
        sockets=(sock,),
        heartbeats=tuple(beats),
        closes=(),
        http_failures=(),
        connections=(),
        timeline=tuple(sorted(timeline, key=lambda e: e.ts_ns)),
        verdict=verdict,
    )


def proxy_cut() -> Session:
    """A websocket an idle-timeout proxy cut after 20 s of silence (pingInterval 45 s)."""
    timeline = [
        ev(10.0, S, Layer.WS, "ws-open", "websocket 101, websocket-only session EIO=4", 20),
        ev(
            10.001,
            S,
            Layer.EIO,
            "handshake",
            "open sid=Wx5_proxy3 pingInterval=45000 pingTimeout=20000 upgrades=",
            20,
        ),
        ev(10.004, S, Layer.SIO, "connect", "/: connected as Rr2_socket4", 20),
        ev(
            30.004,
            S,
            Layer.TCP,
            "tcp-end",
            "TCP websocket connection ended: RESET_BY_SERVER (RSTR) first by server",
            20,
        ),
    ]
    verdict = Verdict(
        "transport close",
        "transport close",
        "proxy-timeout",
        0.8,
        (
            Evidence(
                "connection reset after 20.000 s of silence, shorter than pingInterval", at(30.004)
            ),
        ),
    )
    sock = NamespaceSocket(
        "/",
        "Rr2_socket4",
        at(10.004),
        at(30.004),
        verdict=Verdict("transport close", "transport close", "proxy-timeout", 0.8),
    )
    return Session(
        sid="Wx5_proxy3",
        eio=4,
        client=Endpoint("10.0.0.4", 41000),
        server=SERVER,
        transports=("websocket",),
        opened_ns=at(10.001),
        last_seen_ns=at(30.004),
        closed_ns=at(30.004),
        upgraded_ns=None,
        ping_interval_ms=45000,
        ping_timeout_ms=20000,
        max_payload=None,
        sockets=(sock,),
        heartbeats=(),
        closes=(),
        http_failures=(),
        connections=(),
        timeline=tuple(timeline),
        verdict=verdict,
    )


def open_at_end() -> Session:
    """Still alive when the capture stopped: not a disconnect."""
    beats = heartbeats(40.0, 90.0, 25.0, 0.001)
    timeline = [
        ev(40.0, S, Layer.WS, "ws-open", "websocket 101, websocket-only session EIO=4", 30),
        ev(
            40.001,
            S,
            Layer.EIO,
            "handshake",
            "open sid=Oo4_open04 pingInterval=25000 pingTimeout=20000 upgrades=",
            30,
        ),
        *heartbeat_events(beats, 30, "websocket"),
    ]
    verdict = Verdict(
        None, None, "capture-ended", 1.0, (Evidence("capture ended while the session was alive"),)
    )
    return Session(
        sid="Oo4_open04",
        eio=4,
        client=Endpoint("10.0.0.5", 42000),
        server=SERVER,
        transports=("websocket",),
        opened_ns=at(40.001),
        last_seen_ns=beats[-1].pong_ns or 0,
        closed_ns=None,
        upgraded_ns=None,
        ping_interval_ms=25000,
        ping_timeout_ms=20000,
        max_payload=None,
        sockets=(),
        heartbeats=tuple(beats),
        closes=(),
        http_failures=(),
        connections=(),
        timeline=tuple(timeline),
        open_at_capture_end=True,
        verdict=verdict,
    )


def pcap_analysis() -> Analysis:
    sessions = (websocket_client_close(), polling_ping_timeout(), proxy_cut(), open_at_end())
    info = CaptureInfo(
        "captures/mixed.pcap", CaptureFormat.PCAP, 1234, 456789, at(0.0), at(90.0), False
    )
    findings = (
        Finding(
            "session-unknown",
            2,
            ("Gone_sid99",),
            ('GET sid=Gone_sid99 answered 400 "Session ID unknown"',) * 2,
        ),
        Finding(
            "upgrade-failed",
            1,
            ("Pp0Ll_ing2",),
            ("upgrade request from 10.0.0.3:40002 answered 400 | proxy strips Upgrade",),
        ),
    )
    diagnostics = (
        Diagnostic(
            "tcp-gap",
            Severity.WARNING,
            "conn 9 client->server offset 2048",
            "1448 bytes missing from 10.0.0.3:40000",
        ),
    )
    return Analysis(info, sessions, findings, diagnostics, tls_connections=1)


def har_analysis() -> Analysis:
    """A second capture (HAR): one session closed by the server."""
    timeline = [
        ev(100.0, S, Layer.WS, "ws-open", "websocket 101, websocket-only session EIO=4", 1),
        ev(
            100.001,
            S,
            Layer.EIO,
            "handshake",
            "open sid=Hh1_har0001 pingInterval=25000 pingTimeout=20000 upgrades=",
            1,
        ),
        ev(101.0, S, Layer.SIO, "disconnect", "/: disconnect (1)", 1),
    ]
    verdict = Verdict(
        "server namespace disconnect",
        "io server disconnect",
        "server-disconnect",
        0.6,
        (Evidence("server sent DISCONNECT for / (no TCP evidence in HAR)"),),
    )
    session = Session(
        sid="Hh1_har0001",
        eio=4,
        client=None,
        server=Endpoint("example.test", 443),
        transports=("websocket",),
        opened_ns=at(100.001),
        last_seen_ns=at(101.0),
        closed_ns=at(101.0),
        upgraded_ns=None,
        ping_interval_ms=25000,
        ping_timeout_ms=20000,
        max_payload=None,
        sockets=(),
        heartbeats=(),
        closes=(),
        http_failures=(),
        connections=(),
        timeline=tuple(timeline),
        verdict=verdict,
    )
    info = CaptureInfo(
        "captures/browser.har", CaptureFormat.HAR, 12, 3456, at(99.0), at(102.0), False
    )
    return Analysis(info, (session,), (), ())


CAUSES = (
    ("transport close", "transport close", "client-left"),
    ("ping timeout", None, "network-loss"),
    ("transport close", "transport close", "proxy-timeout"),
    ("server namespace disconnect", "io server disconnect", "server-disconnect"),
    ("transport error", "transport close", "server-crash"),
)


def many_sessions(count: int, seed: int = 7) -> Analysis:
    """A busy capture for histograms and the HTML table (deterministic for a seed)."""
    rng = random.Random(seed)
    sessions = []
    for n in range(count):
        start = rng.uniform(0, 240)
        server_reason, client_reason, cause = rng.choice(CAUSES)
        life = rng.uniform(61, 200) if cause == "proxy-timeout" else rng.expovariate(1 / 45)
        sid = f"S{n:04d}_{rng.randrange(16**6):06x}"
        idle = 60.0 if cause == "proxy-timeout" else min(rng.uniform(0.01, 3.0), life / 2)
        beats = heartbeats(start, start + life - idle, 25.0, 0.002)
        timeline = [
            ev(start, S, Layer.EIO, "handshake", f"open sid={sid}", n),
            *heartbeat_events(beats, n, "websocket"),
            ev(start + life - idle, C, Layer.SIO, "event", '/: event "tick"', n),
            ev(start + life, S, Layer.TCP, "tcp-end", "TCP websocket connection ended", n),
        ]
        verdict = Verdict(
            server_reason, client_reason, cause, 0.8, (Evidence(f"{cause} after {life:.1f} s"),)
        )
        sessions.append(
            Session(
                sid=sid,
                eio=4,
                client=Endpoint(f"10.1.{n // 250}.{n % 250 + 1}", 50000 + n),
                server=SERVER,
                transports=("polling", "websocket"),
                opened_ns=at(start),
                last_seen_ns=at(start + life),
                closed_ns=at(start + life),
                upgraded_ns=at(start + 0.01),
                ping_interval_ms=25000,
                ping_timeout_ms=20000,
                max_payload=None,
                sockets=(),
                heartbeats=tuple(beats),
                closes=(),
                http_failures=(),
                connections=(),
                timeline=tuple(sorted(timeline, key=lambda e: e.ts_ns)),
                verdict=verdict,
            )
        )
    sessions.sort(key=lambda s: (s.opened_ns, s.sid))
    info = CaptureInfo(
        "captures/busy.pcap", CaptureFormat.PCAP, 99999, 9999999, at(0.0), at(400.0), False
    )
    return Analysis(info, tuple(sessions), (), ())

"""Session builder over hand-made transport events (the real captures test it end to end)."""

from __future__ import annotations

import json

from analyzer.core import NS_PER_S, Endpoint, Side
from analyzer.model import ConnFacts, Layer, TimelineEvent
from analyzer.sessions import SessionBuilder
from analyzer.sessions.records import make_conn_facts
from analyzer.sessions.state import SessionState
from analyzer.transport import (
    AbortKind,
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    HttpRequest,
    HttpResponse,
    TcpEnd,
    WsClose,
    WsMessage,
    WsOpcode,
    WsOpened,
)

CLIENT = Endpoint("127.0.0.1", 50000)
SERVER = Endpoint("127.0.0.1", 3000)
SID = "AAAAAAAAAAAAAAAAAAAA"
OPEN = "0" + json.dumps(
    {
        "sid": SID,
        "upgrades": ["websocket"],
        "pingInterval": 1000,
        "pingTimeout": 2000,
        "maxPayload": 1000,
    }
)


def t(seconds: float) -> int:
    return int(1_700_000_000 * NS_PER_S + seconds * NS_PER_S)


def request(at: float, target: str, method: str = "GET", body: bytes = b"") -> HttpRequest:
    return HttpRequest(t(at), method, target, (("Host", "x"),), body, t(at))


def response(at: float, body: bytes, status: int = 200, ctype: str = "text/plain") -> HttpResponse:
    return HttpResponse(
        t(at), status, "OK", (("Content-Type", ctype),), body, t(at), end_offset=len(body)
    )


def poll(
    conn: int,
    at: float,
    target: str,
    resp: HttpResponse | None,
    method: str = "GET",
    body: bytes = b"",
    abort: AbortKind | None = None,
) -> HttpExchange:
    return HttpExchange(conn, CLIENT, SERVER, request(at, target, method, body), resp, abort)


def ws(conn: int, side: Side, at: float, text: str, offset: int = -1) -> WsMessage:
    return WsMessage(conn, side, t(at), WsOpcode.TEXT, text.encode(), end_offset=offset)


def run(events: list[object]) -> list:
    builder = SessionBuilder()
    done = []
    for event in events:
        done.extend(builder.feed(event))  # type: ignore[arg-type]
    done.extend(builder.finish(t(100)))
    return done


def upgraded_session_events() -> list[object]:
    base = "/socket.io/?EIO=4&transport="
    wsreq = request(0.02, f"{base}websocket&sid={SID}")
    return [
        poll(0, 0.0, f"{base}polling&t=a", response(0.001, OPEN.encode())),
        poll(1, 0.002, f"{base}polling&t=b&sid={SID}", response(0.003, b"ok"), "POST", b"40"),
        poll(0, 0.004, f"{base}polling&t=c&sid={SID}", response(0.010, b'40{"sid":"SOCK1"}')),
        WsOpened(2, CLIENT, SERVER, t(0.02), wsreq, response(0.021, b"", 101), None),
        ws(2, Side.CLIENT, 0.022, "2probe"),
        ws(2, Side.SERVER, 0.023, "3probe"),
        poll(0, 0.011, f"{base}polling&t=d&sid={SID}", response(0.030, b"6")),
        ws(2, Side.CLIENT, 0.031, "5"),
        ws(2, Side.SERVER, 1.0, "2", offset=10),
        DataAcked(2, Side.SERVER, t(1.0001), 10),
        ws(2, Side.CLIENT, 1.001, "3"),
        ws(2, Side.SERVER, 2.0, "2", offset=11),
        DataAcked(2, Side.SERVER, t(2.0001), 11),
        ws(2, Side.CLIENT, 2.5, "41"),
        WsClose(2, Side.CLIENT, t(2.501), None, ""),
        WsClose(2, Side.SERVER, t(2.502), None, ""),
        ConnectionEnded(
            2,
            CLIENT,
            SERVER,
            t(2.503),
            TcpEnd.CLEAN_CLOSE,
            Side.CLIENT,
            None,
            t(2.503),
            None,
            {},
            {},
        ),
    ]


def test_polling_handshake_upgrade_and_client_close() -> None:
    (session,) = run(upgraded_session_events())
    assert session.sid == SID
    assert session.eio == 4
    assert session.transports == ("polling", "websocket")
    assert session.upgraded_ns == t(0.031)
    assert (session.ping_interval_ms, session.ping_timeout_ms) == (1000, 2000)
    assert session.closed_ns == t(2.501)
    assert not session.open_at_capture_end
    (sock,) = session.sockets
    assert (sock.nsp, sock.id, sock.connected_ns) == ("/", "SOCK1", t(0.010))
    assert sock.disconnect_packet_from is Side.CLIENT
    assert sock.disconnected_ns == t(2.5)
    pings = [h for h in session.heartbeats]
    assert [h.pinger for h in pings] == [Side.SERVER, Side.SERVER]
    assert pings[0].pong_ns == t(1.001)
    assert pings[1].pong_ns is None and pings[1].ping_acked_ns == t(2.0001)
    assert [c.side for c in session.closes] == [Side.CLIENT, Side.SERVER]
    assert session.closes[0].code is None
    assert session.timeline == tuple(sorted(session.timeline, key=lambda e: e.ts_ns))


def test_session_open_at_capture_end_is_not_closed() -> None:
    events = upgraded_session_events()[:11]
    builder = SessionBuilder()
    for event in events:
        builder.feed(event)  # type: ignore[arg-type]
    (session,) = builder.finish(t(1.5))
    assert session.closed_ns is None
    assert session.open_at_capture_end


def test_unknown_sid_400_is_a_finding_not_a_session() -> None:
    body = b'{"code":1,"message":"Session ID unknown"}'
    target = "/socket.io/?EIO=4&transport=polling&sid=ZZZZ"
    builder = SessionBuilder()
    builder.feed(poll(0, 0.0, target, response(0.001, body, 400, "application/json")))
    assert builder.finish(t(1)) == []
    (obs,) = builder.observations
    assert obs.kind == "session-unknown" and obs.sid == "ZZZZ"


def test_version_mismatch_handshake_is_a_finding() -> None:
    body = b'{"code":5,"message":"Unsupported protocol version"}'
    builder = SessionBuilder()
    builder.feed(
        poll(0, 0.0, "/socket.io/?EIO=3&transport=polling&t=x", response(0.001, body, 400))
    )
    (obs,) = builder.observations
    assert obs.kind == "protocol-mismatch"


def test_aborted_long_poll_ends_the_session() -> None:
    base = "/socket.io/?EIO=4&transport=polling"
    events = [
        poll(0, 0.0, base, response(0.001, OPEN.encode())),
        poll(0, 0.5, f"{base}&sid={SID}", None, abort=AbortKind.CLIENT_CLOSED),
    ]
    (session,) = run(events)
    assert session.closed_ns is not None
    assert session.http_failures[0].abort == "client-closed"


def test_eio3_handshake_payload_connects_default_namespace() -> None:
    open3 = '0{"sid":"S3","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000}'
    body = f"{len(open3)}:{open3}2:40".encode()
    (session,) = run([poll(0, 0.0, "/socket.io/?EIO=3&transport=polling", response(0.001, body))])
    (sock,) = session.sockets
    assert (session.eio, sock.nsp, sock.id) == (3, "/", "S3")


def test_websocket_only_session_and_binary_event() -> None:
    target = "/socket.io/?EIO=4&transport=websocket"
    opened = WsOpened(5, CLIENT, SERVER, t(0), request(0, target), response(0.001, b"", 101), None)
    attachment = WsMessage(5, Side.CLIENT, t(0.3), WsOpcode.BINARY, b"\x01\x02")
    events = [
        opened,
        ws(5, Side.SERVER, 0.002, OPEN),
        ws(5, Side.CLIENT, 0.1, "40"),
        ws(5, Side.SERVER, 0.2, '40{"sid":"S"}'),
        ws(5, Side.CLIENT, 0.29, '451-["up",{"_placeholder":true,"num":0}]'),
        attachment,
    ]
    (session,) = run(events)
    assert session.transports == ("websocket",)
    assert any(e.kind == "binary-event" for e in session.timeline)


def test_slot_constructors_build_the_same_records() -> None:
    """The builder's cheap constructors make records equal to the dataclasses' own."""
    state = SessionState("sid", 4, None, None, 0)
    state.note(1, Side.CLIENT, Layer.EIO, "ping", "t", 3, "d")
    state.note(2, None, Layer.TCP, "tcp-end", "x")
    assert state.freeze(None).timeline == (
        TimelineEvent(1, Side.CLIENT, Layer.EIO, "ping", "t", 3, "d"),
        TimelineEvent(2, None, Layer.TCP, "tcp-end", "x"),
    )
    cases = [
        (make_conn_facts, ConnFacts, (4, "polling", 1, 2, "x", "SF", None, None, {}, 1, None)),
    ]
    for make, cls, args in cases:
        made, built = make(*args), cls(*args)
        assert type(made) is cls
        assert made == built
        assert repr(made) == repr(built)
        if cls is not ConnFacts:  # its dict field makes it unhashable
            assert hash(made) == hash(built)

"""Flow layer: TCP events in, transport events out (sides, upgrades, aborts, TLS, order)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer.core import Endpoint, Side
from analyzer.engineio import (
    EioPacketType,
    decode_polling_body,
    decode_ws_message,
    may_be_close_or_ping,
    may_hold_close_or_ping,
)
from analyzer.errors import DecodeError
from analyzer.flows import FlowDecoder, FlowKind, classify_first_bytes
from analyzer.net.events import (
    Acked,
    ConnectionClosed,
    ConnectionOpened,
    Direction,
    Retransmitted,
    StreamData,
    StreamGap,
    TcpEvent,
)
from analyzer.transport import (
    AbortKind,
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    Retransmission,
    TcpEnd,
    TransportEvent,
    WsClose,
    WsMessage,
    WsOpened,
)

ORIG, RESP = Direction.ORIGINATOR, Direction.RESPONDER
A = Endpoint("192.168.1.5", 40000)
B = Endpoint("192.168.1.9", 3000)

UPGRADE_REQ = (
    b"GET /socket.io/?EIO=4&transport=websocket&sid=abc HTTP/1.1\r\nHost: b\r\n"
    b"Upgrade: websocket\r\nConnection: Upgrade\r\n\r\n"
)
UPGRADE_RESP = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_no_context_takeover\r\n\r\n"
)
MASK = b"\x01\x02\x03\x04"


def masked_text(text: bytes) -> bytes:
    body = bytes(b ^ MASK[i % 4] for i, b in enumerate(text))
    return bytes([0x81, 0x80 | len(text)]) + MASK + body


def opened(conn: int = 1, ts: int = 0) -> ConnectionOpened:
    return ConnectionOpened(conn, ts, A, B, handshake_seen=True, direction_guessed=False)


def closed(
    conn: int = 1,
    ts: int = 99,
    end: TcpEnd = TcpEnd.CLEAN_CLOSE,
    fin: Direction | None = None,
    rst: Direction | None = None,
) -> ConnectionClosed:
    return ConnectionClosed(
        conn, ts, end, fin, rst, ts if fin else None, ts if rst else None,
        {ORIG: 5}, {RESP: 2}, 0, 0, 0,
    )  # fmt: skip


class Streams:
    """Hands out StreamData with running offsets per direction."""

    def __init__(self, conn: int = 1) -> None:
        self.conn = conn
        self.offsets = {ORIG: 0, RESP: 0}

    def data(self, direction: Direction, ts: int, data: bytes) -> StreamData:
        event = StreamData(self.conn, direction, ts, self.offsets[direction], data)
        self.offsets[direction] += len(data)
        return event


def run(events: list[TcpEvent], decoder: FlowDecoder | None = None) -> list[TransportEvent]:
    decoder = decoder or FlowDecoder()
    out: list[TransportEvent] = []
    for event in events:
        out += decoder.feed(event)
    return out + decoder.finish()


def test_classify_first_bytes() -> None:
    assert classify_first_bytes(b"\x16\x03\x01\x00") == (FlowKind.TLS, True)
    assert classify_first_bytes(b"GET / HTTP/1.1") == (FlowKind.HTTP, True)
    assert classify_first_bytes(b"HTTP/1.1 200") == (FlowKind.HTTP, False)
    assert classify_first_bytes(b"GE") == (FlowKind.PENDING, None)
    assert classify_first_bytes(b"SSH-2.0-x") == (FlowKind.OTHER, None)


def test_polling_exchange_then_clean_close() -> None:
    s = Streams()
    out = run([
        opened(),
        s.data(ORIG, 1, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        Acked(1, ORIG, 2, 52),  # no record of the client's has an end offset: not passed on
        s.data(RESP, 3, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n2{}x"),  # a ping
        Retransmitted(1, RESP, 4, 0, 10),
        Acked(1, RESP, 5, 42),  # covers the response
        closed(fin=ORIG),
    ])  # fmt: skip
    kinds = [type(e) for e in out]
    assert kinds == [HttpExchange, Retransmission, DataAcked, ConnectionEnded]
    exchange, retrans, acked, ended = out
    assert acked == DataAcked(1, Side.SERVER, 5, 42)
    assert isinstance(exchange, HttpExchange) and exchange.response is not None
    assert (exchange.client, exchange.server, exchange.response.body) == (A, B, b"2{}x")
    assert retrans == Retransmission(1, Side.SERVER, 4, 0, 10)
    assert isinstance(ended, ConnectionEnded)
    assert (ended.client, ended.end, ended.first_fin) == (A, TcpEnd.CLEAN_CLOSE, Side.CLIENT)
    assert ended.last_payload_ns == {Side.CLIENT: 5}
    assert ended.retransmissions == {Side.SERVER: 2}


def test_acks_are_passed_on_until_they_cover_the_records_emitted() -> None:
    """From a record's emission until an ACK reaches its end offset, and no longer."""
    s = Streams()
    out = run([
        opened(),
        s.data(ORIG, 1, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        s.data(RESP, 2, b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n2{}x"),  # ends at 42
        Acked(1, RESP, 3, 20),  # short of the end: passed on, still waiting
        Acked(1, RESP, 4, 42),  # reaches it: passed on, nothing waits any more
        Acked(1, RESP, 5, 42),
        s.data(ORIG, 6, b"GET /socket.io/?EIO=4&transport=polling HTTP/1.1\r\n\r\n"),
        s.data(RESP, 7, b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"),  # ends at 81
        Acked(1, RESP, 8, 81),
    ])  # fmt: skip
    acks = [(e.ts_ns, e.offset) for e in out if isinstance(e, DataAcked)]
    assert acks == [(3, 20), (4, 42), (8, 81)]


def test_swaps_sides_when_originator_sends_a_response() -> None:
    s = Streams()
    out = run([
        opened(),
        s.data(ORIG, 1, b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        s.data(RESP, 2, b"GET /late HTTP/1.1\r\n\r\n"),
        closed(end=TcpEnd.RESET_BY_CLIENT, rst=ORIG),
    ])  # fmt: skip
    ended = out[-1]
    assert isinstance(ended, ConnectionEnded)
    assert (ended.client, ended.server) == (B, A)
    assert ended.end is TcpEnd.RESET_BY_SERVER and ended.first_rst is Side.SERVER
    assert ended.last_payload_ns == {Side.SERVER: 5}


def test_aborted_long_poll_by_client_reset() -> None:
    s = Streams()
    out = run([
        opened(),
        s.data(ORIG, 1, b"GET /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n\r\n"),
        closed(end=TcpEnd.RESET_BY_CLIENT, rst=ORIG),
    ])  # fmt: skip
    exchange = out[0]
    assert isinstance(exchange, HttpExchange)
    assert (exchange.response, exchange.abort) == (None, AbortKind.CLIENT_CLOSED)


def test_unanswered_request_at_capture_end_and_server_close() -> None:
    s = Streams()
    events: list[TcpEvent] = [opened(), s.data(ORIG, 1, b"GET /a HTTP/1.1\r\n\r\n")]
    at_end = run([*events, closed(end=TcpEnd.OPEN_AT_END)])
    s2 = Streams()
    by_server = run([opened(), s2.data(ORIG, 1, b"GET /a HTTP/1.1\r\n\r\n"), closed(fin=RESP)])
    aborts = [e.abort for e in at_end + by_server if isinstance(e, HttpExchange)]
    assert aborts == [AbortKind.CAPTURE_ENDED, AbortKind.SERVER_CLOSED]


def test_websocket_upgrade_messages_and_close_in_order() -> None:
    s = Streams()
    server_frames = b"\x81\x020{" + b"\x88\x02\x03\xe8"
    out = run([
        opened(),
        s.data(ORIG, 1, UPGRADE_REQ),
        s.data(RESP, 2, UPGRADE_RESP + b"\x81\x022x"),
        s.data(ORIG, 3, masked_text(b"3")),
        s.data(RESP, 4, server_frames),
        closed(fin=RESP),
    ])  # fmt: skip
    kinds = [type(e) for e in out]
    assert kinds == [WsOpened, WsMessage, WsMessage, WsMessage, WsClose, ConnectionEnded]
    ws_opened = out[0]
    assert isinstance(ws_opened, WsOpened)
    assert ws_opened.extensions == "permessage-deflate; client_no_context_takeover"
    messages = [(e.side, e.payload, e.end_offset) for e in out if isinstance(e, WsMessage)]
    assert messages == [
        (Side.SERVER, b"2x", len(UPGRADE_RESP) + 4),
        (Side.CLIENT, b"3", len(UPGRADE_REQ) + 7),
        (Side.SERVER, b"0{", len(UPGRADE_RESP) + 8),
    ]
    close = out[4]
    assert isinstance(close, WsClose) and (close.side, close.code) == (Side.SERVER, 1000)


def test_only_possible_pings_and_closes_wait_for_their_acknowledgement() -> None:
    """A message's ACK is passed on only when the message may be a ping or close packet."""
    s = Streams()
    base = len(UPGRADE_RESP)
    out = run([
        opened(),
        s.data(ORIG, 1, UPGRADE_REQ),
        s.data(RESP, 2, UPGRADE_RESP + b"\x81\x0442[]"),  # an event: nobody times it
        Acked(1, RESP, 3, base + 6),
        s.data(RESP, 4, b"\x81\x012"),  # a ping
        Acked(1, RESP, 5, base + 9),
        s.data(ORIG, 6, masked_text(b"3")),  # the pong
        Acked(1, ORIG, 7, len(UPGRADE_REQ) + 7),
        s.data(RESP, 8, b"\x88\x02\x03\xe8"),  # a close frame
        Acked(1, RESP, 9, base + 13),
    ])  # fmt: skip
    acks = [(e.ts_ns, e.sender, e.offset) for e in out if isinstance(e, DataAcked)]
    assert acks == [(5, Side.SERVER, base + 9), (9, Side.SERVER, base + 13)]


# Payloads that start like Engine.IO packets of every kind and form, then anything.
ws_payloads = st.builds(
    bytes.__add__,
    st.sampled_from([b"", b"0", b"1", b"2", b"3", b"4", b"6", b"b", b"b1", b"b2", b"b4"]
                    + [bytes([n]) for n in range(8)]),
    st.one_of(st.sampled_from([b"", b"probe", b"AA==", b"x"]), st.binary(max_size=4)),
)  # fmt: skip


@given(ws_payloads, st.booleans())
def test_every_close_or_ping_message_is_recognised(payload: bytes, binary: bool) -> None:
    """`may_be_close_or_ping` never misses a message any Engine.IO version decodes so."""
    for eio in (3, 4):
        try:
            packet = decode_ws_message(payload, binary, eio)
        except DecodeError:
            continue
        if packet.type in (EioPacketType.CLOSE, EioPacketType.PING):
            assert may_be_close_or_ping(payload, binary)


def test_only_polling_responses_that_may_carry_a_ping_wait_for_their_acknowledgement() -> None:
    s = Streams()
    request = b"GET /socket.io/?EIO=4&transport=polling&sid=x HTTP/1.1\r\n\r\n"
    event = b'HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n42["a"]'
    ping = b"HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n2"
    out = run([
        opened(),
        s.data(ORIG, 1, request),
        s.data(RESP, 2, event),  # an event: nobody times it
        Acked(1, RESP, 3, len(event)),
        s.data(ORIG, 4, request),
        s.data(RESP, 5, ping),
        Acked(1, RESP, 6, len(event) + len(ping)),
    ])  # fmt: skip
    acks = [(e.ts_ns, e.offset) for e in out if isinstance(e, DataAcked)]
    assert acks == [(6, len(event) + len(ping))]


# Polling bodies: packets of every kind in every framing (v4 records, v3 length prefixes,
# v3 binary, JSONP, a form), joined, with noise around them.
_PACKETS = st.sampled_from(
    ["0", "1", "2", "2probe", "3", "40", "42[1]", "6", "b1AA==", "b2AA==", "b4AA==", "bAQ=="]
)


def _framed(packets: list[str], framing: str) -> bytes:
    if framing == "v4":
        return "\x1e".join(packets).encode()
    if framing == "v3":
        return "".join(f"{len(p)}:{p}" for p in packets).encode()
    if framing == "binary":
        return b"".join(
            b"\x00" + bytes(int(d) for d in str(len(p))) + b"\xff" + p.encode() for p in packets
        )
    if framing == "jsonp v3":
        return f'___eio[0]("{"".join(f"{len(p)}:{p}" for p in packets)}");'.encode()
    if framing == "jsonp v4":
        records = "\\u001e".join(packets)  # the separator as JSON escapes it
        return f'___eio[0]("{records}");'.encode()
    form = "".join(f"{len(p)}%3A{p}" for p in packets)
    return f"d={form}".encode() if framing == "form" else f"b=&d={form}".encode()


polling_bodies = st.one_of(
    st.builds(
        _framed,
        st.lists(_PACKETS, min_size=1, max_size=3),
        st.sampled_from(["v4", "v3", "binary", "jsonp v3", "jsonp v4", "form", "form, d second"]),
    ),
    st.binary(max_size=8),
)
_CONTENT_TYPES = (
    None,
    "text/plain",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
)


@settings(max_examples=500)
@given(polling_bodies)
def test_every_polling_body_with_a_close_or_ping_is_recognised(body: bytes) -> None:
    """`may_hold_close_or_ping` never misses a body any version and content type decode to
    a close or ping packet."""
    for eio in (3, 4):
        for content_type in _CONTENT_TYPES:
            packets = decode_polling_body(body, eio, content_type).packets
            if any(p.type in (EioPacketType.CLOSE, EioPacketType.PING) for p in packets):
                assert may_hold_close_or_ping(body)


def test_gap_in_websocket_stream_is_a_diagnostic() -> None:
    s = Streams()
    decoder = FlowDecoder()
    run([
        opened(),
        s.data(ORIG, 1, UPGRADE_REQ),
        s.data(RESP, 2, UPGRADE_RESP),
        StreamGap(1, RESP, 3, len(UPGRADE_RESP), 10),
        closed(),
    ], decoder)  # fmt: skip
    assert "ws-gap" in [d.code for d in decoder.diagnostics]


def test_tls_connections_are_counted_and_ignored() -> None:
    s = Streams()
    decoder = FlowDecoder()
    out = run([
        opened(),
        s.data(ORIG, 1, b"\x16\x03\x01\x00\x05hello"),
        Acked(1, ORIG, 2, 10),
        s.data(RESP, 2, b"\x16\x03\x03\x00\x01x"),
        closed(),
    ], decoder)  # fmt: skip
    assert out == []
    assert decoder.tls_connections == 1
    assert decoder.tls_endpoints == [(A, B)]


def test_non_http_connection_is_noted() -> None:
    s = Streams()
    decoder = FlowDecoder()
    out = run([opened(), s.data(ORIG, 1, b"SSH-2.0-OpenSSH\r\n"), closed()], decoder)
    assert out == []
    assert decoder.other_connections == 1
    assert [d.code for d in decoder.diagnostics] == ["flow-not-http"]


def test_refused_connection_still_reports_its_end() -> None:
    out = run([opened(), closed(end=TcpEnd.REJECTED, rst=RESP)])
    [ended] = out
    assert isinstance(ended, ConnectionEnded) and ended.end is TcpEnd.REJECTED


def test_short_first_bytes_wait_for_more() -> None:
    s = Streams()
    out = run([
        opened(),
        s.data(ORIG, 1, b"GE"),
        s.data(ORIG, 2, b"T /x HTTP/1.1\r\n\r\n"),
        s.data(RESP, 3, b"HTTP/1.1 204 No Content\r\n\r\n"),
        closed(),
    ])  # fmt: skip
    [exchange, _] = out
    assert isinstance(exchange, HttpExchange) and exchange.request.target == "/x"
    assert exchange.request.ts_ns == 1


def test_state_is_freed_on_close_and_finish_closes_leftovers() -> None:
    decoder = FlowDecoder()
    decoder.feed(opened(1))
    decoder.feed(closed(1))
    decoder.feed(opened(2))
    s = Streams(2)
    decoder.feed(s.data(ORIG, 7, b"GET /open HTTP/1.1\r\n\r\n"))
    out = decoder.finish()
    assert [type(e) for e in out] == [HttpExchange, ConnectionEnded]
    exchange, ended = out
    assert isinstance(exchange, HttpExchange) and exchange.abort is AbortKind.CAPTURE_ENDED
    assert isinstance(ended, ConnectionEnded) and ended.end is TcpEnd.OPEN_AT_END
    assert decoder.finish() == []
    assert decoder.feed(StreamData(1, ORIG, 9, 0, b"late")) == []
    assert [d.code for d in decoder.diagnostics] == ["flow-unknown-conn"]


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.binary(max_size=60)), max_size=10))
def test_arbitrary_stream_bytes_never_raise(chunks: list[tuple[bool, bytes]]) -> None:
    s = Streams()
    events: list[TcpEvent] = [opened()]
    events += [s.data(ORIG if orig else RESP, i, data) for i, (orig, data) in enumerate(chunks)]
    run([*events, closed(fin=ORIG)])

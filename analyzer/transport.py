"""Transport events: what the session builder consumes, whatever the capture format.

A pcap goes through TCP reassembly, the HTTP/1.1 parser and the WebSocket parser to reach
these records; a HAR file produces them directly (without TCP facts). Everything here
speaks in `Side` (client/server), never in TCP originator/responder.

`conn` is a connection id: an integer unique within one analysis (TCP connections are
numbered as tshark's tcp.stream does; HAR entries get synthetic ids).

The records built once per packet, message or connection (requests, responses, exchanges,
websocket messages, acknowledgements, connection ends) are `NamedTuple`s: as immutable as
frozen dataclasses, with the same fields, repr and class patterns, and about twice as cheap
to build (several times, through `core.new_record`).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import NamedTuple

from analyzer.core import Endpoint, Side

Headers = tuple[tuple[str, str], ...]


def header(headers: Headers, name: str) -> str | None:
    """First value of a header, matched case-insensitively."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


class HttpRequest(NamedTuple):
    ts_ns: int  # time the request's first byte was seen
    method: str
    target: str  # request-target as sent, e.g. "/socket.io/?EIO=4&transport=polling&t=x"
    headers: Headers
    body: bytes  # decoded body (chunked removed, content-encoding undone)
    end_ns: int  # time the last byte of the request was seen
    body_truncated: bool = False  # the body hit a size limit or the stream ended inside it


class HttpResponse(NamedTuple):
    ts_ns: int  # time the status line was seen
    status: int
    reason: str
    headers: Headers
    body: bytes  # decoded body
    end_ns: int
    body_truncated: bool = False
    end_offset: int = -1  # server stream offset past the response's last byte (-1: HAR)


class AbortKind(enum.Enum):
    """Why an HTTP request got no (complete) response."""

    CLIENT_CLOSED = "client-closed"  # client FIN/RST before the response
    SERVER_CLOSED = "server-closed"  # server FIN/RST before the response
    CAPTURE_ENDED = "capture-ended"  # still waiting when the capture ended
    HAR_ERROR = "har-error"  # HAR status 0 / _error


class HttpExchange(NamedTuple):
    """One request and its response (None when it never came: an aborted long-poll)."""

    conn: int
    client: Endpoint
    server: Endpoint
    request: HttpRequest
    response: HttpResponse | None
    abort: AbortKind | None = None
    error_text: str | None = None  # HAR `_error` text, when there is one


@dataclass(frozen=True, slots=True)
class WsOpened:
    """A 101 Switching Protocols answered a websocket upgrade on `conn`."""

    conn: int
    client: Endpoint
    server: Endpoint
    ts_ns: int
    request: HttpRequest
    response: HttpResponse
    extensions: str | None  # negotiated Sec-WebSocket-Extensions, as the server sent it


class WsOpcode(enum.IntEnum):
    CONTINUATION = 0
    TEXT = 1
    BINARY = 2
    CLOSE = 8
    PING = 9
    PONG = 10


class WsMessage(NamedTuple):
    """A complete data message (fragments joined, deflate undone)."""

    conn: int
    side: Side  # who sent it
    ts_ns: int  # time of its last frame
    opcode: WsOpcode  # TEXT or BINARY
    payload: bytes
    compressed: bool = False
    wire_len: int = 0  # bytes on the wire, frame headers included
    end_offset: int = -1  # sender's stream offset past the last frame byte (-1: HAR)


@dataclass(frozen=True, slots=True)
class WsControl:
    """A ping or pong control frame (Engine.IO does not use them; some proxies do)."""

    conn: int
    side: Side
    ts_ns: int
    opcode: WsOpcode
    payload: bytes


@dataclass(frozen=True, slots=True)
class WsClose:
    """A close frame. `code` is None when the frame had no body (peer reports 1005)."""

    conn: int
    side: Side
    ts_ns: int
    code: int | None
    reason: str
    end_offset: int = -1  # sender's stream offset past the frame (-1: unknown)


class TcpEnd(enum.Enum):
    """How a TCP connection ended, with zeek's conn_state code."""

    CLEAN_CLOSE = "SF"  # both FINs
    CLOSED_BY_CLIENT_ONLY = "S2"  # client FIN, server never closed (half-closed at end)
    CLOSED_BY_SERVER_ONLY = "S3"  # server FIN, client never closed (half-closed at end)
    RESET_BY_CLIENT = "RSTO"  # client (originator) reset
    RESET_BY_SERVER = "RSTR"  # server (responder) reset
    REJECTED = "REJ"  # SYN answered by RST
    NO_REPLY = "S0"  # SYN never answered
    OPEN_AT_END = "S1"  # established, still open when the capture ended
    MIDSTREAM = "OTH"  # no handshake seen, capture started mid-connection

    @property
    def conn_state(self) -> str:
        return self.value


class ConnectionEnded(NamedTuple):
    """A TCP connection's outcome (pcap only), with facts the classifier uses (a tuple:
    one per connection, and a capture of short polling requests has one per request)."""

    conn: int
    client: Endpoint
    server: Endpoint
    ts_ns: int  # time of the closing segment, or of the capture's end
    end: TcpEnd
    first_fin: Side | None
    first_rst: Side | None
    fin_ts_ns: int | None
    rst_ts_ns: int | None
    last_payload_ns: dict[Side, int]  # last data byte per side
    retransmissions: dict[Side, int]
    gaps: int = 0  # bytes missing from the capture in either direction
    direction_guessed: bool = False  # capture started mid-connection


class DataAcked(NamedTuple):
    """Bytes a side sent, up to `offset` in its stream, were ACKed by the peer at `ts_ns`.

    Emitted only when the acknowledgement advances over data (not for every pure ACK) while
    a record of that side whose delivery time matters was emitted and no earlier DataAcked
    reached its end offset. Those records are `WsClose`, `HttpResponse` and the `WsMessage`s
    that may be Engine.IO close or ping packets (`engineio.may_be_close_or_ping`). Consumers
    learn when such a record's last byte reached the peer's host (the first DataAcked at or
    beyond its end offset after it), e.g. to tell a ping that reached the client's host
    (ACKed, no pong: a stalled client) from one that never arrived (network loss).
    """

    conn: int
    sender: Side
    ts_ns: int
    offset: int


@dataclass(frozen=True, slots=True)
class Retransmission:
    conn: int
    side: Side
    ts_ns: int
    offset: int
    length: int


TransportEvent = (
    HttpExchange
    | WsOpened
    | WsMessage
    | WsControl
    | WsClose
    | ConnectionEnded
    | DataAcked
    | Retransmission
)

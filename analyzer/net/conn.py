"""State of one open TCP connection, and how its outcome is named."""

from __future__ import annotations

from typing import Final

from analyzer.core import Endpoint
from analyzer.net.events import Direction
from analyzer.net.stream import HalfStream
from analyzer.transport import TcpEnd

EPHEMERAL_START: Final = 32768  # ports below this are taken to be servers' when guessing
ORIG, RESP = Direction.ORIGINATOR, Direction.RESPONDER
Key = tuple[Endpoint, Endpoint]


class Connection:
    """Mutable state of one open TCP connection (dropped when it closes)."""

    __slots__ = (
        "fin_ts",
        "first_fin",
        "first_rst",
        "handshake_seen",
        "id",
        "keepalives",
        "key",
        "last_ts",
        "orig",
        "originator",
        "raw_keys",
        "resp",
        "resp_seen",
        "responder",
        "rst_ts",
        "syn_seen",
        "synack_seen",
        "zero_windows",
    )  # fmt: skip

    def __init__(self, conn_id: int, key: Key, originator: Endpoint, responder: Endpoint) -> None:
        self.id = conn_id
        self.key = key
        self.originator = originator
        self.responder = responder
        self.orig = HalfStream(conn_id, ORIG)
        self.resp = HalfStream(conn_id, RESP)
        self.handshake_seen = False
        self.syn_seen = False  # the originator's SYN
        self.synack_seen = False
        self.resp_seen = False  # any packet from the responder
        self.first_fin: Direction | None = None
        self.fin_ts: int | None = None
        self.first_rst: Direction | None = None
        self.rst_ts: int | None = None
        self.zero_windows = 0
        self.keepalives = 0
        self.last_ts = 0
        self.raw_keys: tuple[bytes, ...] = ()  # its keys in `TcpReassembler.routes`

    def half(self, direction: Direction) -> HalfStream:
        return self.orig if direction is ORIG else self.resp


def guess_direction(src: Endpoint, dst: Endpoint) -> tuple[Endpoint, Endpoint]:
    """(originator, responder) for a mid-stream start: a low, well-known port serves."""
    if src.port < dst.port and src.port < EPHEMERAL_START:
        return dst, src
    return src, dst


def tcp_end(conn: Connection) -> TcpEnd:
    """zeek-style outcome; a FIN or RST says more than a missing handshake."""
    if conn.first_rst is not None:
        if conn.syn_seen and not conn.synack_seen and conn.first_rst is RESP:
            return TcpEnd.REJECTED
        return TcpEnd.RESET_BY_CLIENT if conn.first_rst is ORIG else TcpEnd.RESET_BY_SERVER
    orig_fin, resp_fin = conn.orig.fin_off is not None, conn.resp.fin_off is not None
    if orig_fin and resp_fin:
        return TcpEnd.CLEAN_CLOSE
    if orig_fin:
        return TcpEnd.CLOSED_BY_CLIENT_ONLY
    if resp_fin:
        return TcpEnd.CLOSED_BY_SERVER_ONLY
    if not conn.handshake_seen:
        return TcpEnd.MIDSTREAM
    if conn.syn_seen and not conn.resp_seen:
        return TcpEnd.NO_REPLY
    return TcpEnd.OPEN_AT_END

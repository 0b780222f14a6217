"""What TCP reassembly emits: in-order stream data per direction, and connection facts.

Inside TCP there are no clients or servers yet, only the originator (sent the first SYN,
or guessed when the capture started mid-connection) and the responder. The flow layer
above maps them to `Side`.

The records are `NamedTuple`s: one is built for almost every packet, and a tuple is
several times cheaper to build than a frozen dataclass (the fast path even skips the
generated `__new__` with `tuple.__new__(Cls, fields)`). They are immutable all the same.
"""

from __future__ import annotations

import enum
from typing import NamedTuple

from analyzer.core import Endpoint
from analyzer.transport import TcpEnd


class Direction(enum.Enum):
    ORIGINATOR = "orig"  # originator -> responder
    RESPONDER = "resp"  # responder -> originator

    # Every layer keys dicts by direction; `Enum.__hash__` is a Python call. The members
    # are singletons compared by identity, so the identity hash is as good, in C.
    __hash__ = object.__hash__

    @property
    def other(self) -> Direction:
        return Direction.RESPONDER if self is Direction.ORIGINATOR else Direction.ORIGINATOR


class ConnectionOpened(NamedTuple):
    conn: int  # 0, 1, 2 ... in order of first packet (tshark's tcp.stream numbering)
    ts_ns: int
    originator: Endpoint
    responder: Endpoint
    handshake_seen: bool  # a SYN was seen; False = capture started mid-connection
    direction_guessed: bool  # originator chosen by heuristic (port numbers), not by SYN


class StreamData(NamedTuple):
    """Contiguous in-order bytes of one direction, starting at `offset` in that stream."""

    conn: int
    direction: Direction
    ts_ns: int  # capture time of the segment that completed this data
    offset: int  # stream offset (bytes since the SYN, or since the first byte seen)
    data: bytes


class StreamGap(NamedTuple):
    """Bytes that never appeared in the capture; the stream resumes after them."""

    conn: int
    direction: Direction
    ts_ns: int
    offset: int
    length: int


class Acked(NamedTuple):
    """The peer acknowledged `direction`'s stream up to `offset` (emitted when the ACK
    advances over data, not for every ACK)."""

    conn: int
    direction: Direction  # whose data was acknowledged
    ts_ns: int
    offset: int


class Retransmitted(NamedTuple):
    conn: int
    direction: Direction
    ts_ns: int
    offset: int
    length: int


class ConnectionClosed(NamedTuple):
    """Emitted once per connection: at FIN/RST completion, or from `finish()`."""

    conn: int
    ts_ns: int
    end: TcpEnd  # originator = client in the zeek codes
    first_fin: Direction | None
    first_rst: Direction | None
    fin_ts_ns: int | None
    rst_ts_ns: int | None
    last_payload_ns: dict[Direction, int]
    retransmissions: dict[Direction, int]
    gap_bytes: int
    zero_windows: int
    keepalives: int


TcpEvent = ConnectionOpened | StreamData | StreamGap | Acked | Retransmitted | ConnectionClosed

"""Mutable per-session state while a capture is read, frozen into `Session` at the end.

Only the session builder touches these objects; nothing outside `analyzer.sessions`
sees them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from operator import itemgetter
from typing import Any

from analyzer.core import Endpoint, Side
from analyzer.model import (
    ConnFacts,
    EngineClose,
    HttpFailure,
    Layer,
    NamespaceSocket,
    Session,
    TimelineDigest,
)
from analyzer.sessions.spill import (
    CONNECTIONS,
    HEARTBEATS,
    TIMELINE,
    OlderRows,
    RowsRef,
    SpillFile,
    heartbeat_row,
    spilled,
    spilled_rows,
)
from analyzer.socketio import BinaryAssembler

MAX_TIMELINE = 20_000  # per session; past it the timeline says it was cut
MAX_DETAIL = 600  # characters of a packet kept for the detail view

# A timeline line is kept as a row (see `spill.event_row`) until the session is frozen: a
# tuple costs a fraction of a record, and it is what the spill file stores anyway.
TimelineRow = tuple[int, str | None, str, str, str, int | None, str]
HeartbeatRow = tuple[str, int, int | None, int | None]  # see `spill.heartbeat_row`
ROW_KIND = 3
# An open session with a spill file keeps only its newest rows in memory: past a chunk, the
# older ones are moved out. The builder looks back at the last RECENT_ROWS timeline lines.
TIMELINE_CHUNK = 100
RECENT_ROWS = 50
HEARTBEAT_CHUNK = 50


@dataclass(slots=True)
class SocketState:
    """One namespace socket inside a session."""

    nsp: str
    requested_ns: int | None = None
    id: str | None = None
    connected_ns: int | None = None
    disconnected_ns: int | None = None
    connect_error: str | None = None
    disconnect_packet_from: Side | None = None
    pid: str | None = None
    recovered_from: str | None = None
    auth: Any = None  # the CONNECT's JSON payload

    @property
    def is_open(self) -> bool:
        return self.connected_ns is not None and self.disconnected_ns is None

    def freeze(self) -> NamespaceSocket:
        return NamespaceSocket(
            nsp=self.nsp,
            id=self.id,
            connected_ns=self.connected_ns,
            disconnected_ns=self.disconnected_ns,
            connect_error=self.connect_error,
            disconnect_packet_from=self.disconnect_packet_from,
            pid=self.pid,
            recovered_from=self.recovered_from,
            auth=self.auth,
            requested_ns=self.requested_ns,
        )


# `PendingPing` and `ConnState` are plain classes, not dataclasses: compiled (setup.py),
# a plain class's `__init__` is native code where a dataclass keeps its generated Python
# one, and one is made per ping and per connection.


class PendingPing:
    """A ping waiting for its pong (and for the TCP ACK that says it arrived)."""

    __slots__ = ("acked_ns", "conn", "end_offset", "pinger", "ts_ns")

    def __init__(self, pinger: Side, ts_ns: int, conn: int | None, end_offset: int) -> None:
        self.pinger = pinger
        self.ts_ns = ts_ns
        self.conn = conn
        self.end_offset = end_offset
        self.acked_ns: int | None = None


class ConnState:
    """A connection carrying the session, and its TCP facts once it ended."""

    __slots__ = ("conn", "facts", "opened_ns", "transport")

    def __init__(self, conn: int, transport: str, opened_ns: int) -> None:
        self.conn = conn
        self.transport = transport
        self.opened_ns = opened_ns
        self.facts: ConnFacts | None = None


@dataclass(slots=True)
class SessionState:
    sid: str
    eio: int | None
    client: Endpoint | None
    server: Endpoint | None
    opened_ns: int
    handshake_seen: bool = True
    last_seen_ns: int = 0
    closed_ns: int | None = None
    close_sign: str | None = None
    upgraded_ns: int | None = None
    ws_conn: int | None = None  # the websocket connection carrying (or probing) the session
    transports: list[str] = field(default_factory=list)
    ping_interval_ms: int | None = None
    ping_timeout_ms: int | None = None
    max_payload: int | None = None
    user_agent: str | None = None
    sockets: list[SocketState] = field(default_factory=list)
    heartbeats: list[HeartbeatRow] = field(default_factory=list)
    pending_pings: list[PendingPing] = field(default_factory=list)
    closes: list[EngineClose] = field(default_factory=list)
    http_failures: list[HttpFailure] = field(default_factory=list)
    conns: dict[int, ConnState] = field(default_factory=dict)
    timeline: list[TimelineRow] = field(default_factory=list)
    timeline_moved: int = 0  # lines moved to the spill file
    timeline_cut: bool = False
    # The timeline's digest (`model.TimelineDigest`), gathered line by line as noted.
    digest_rows: list[TimelineRow] = field(default_factory=list)  # malformed, connect-error
    last_server_packet_ns: int = 0
    upgrade_failed: bool = False
    query: tuple[tuple[str, str], ...] = ()
    server_software: str | None = None
    assemblers: dict[Side, BinaryAssembler] = field(default_factory=dict)
    awaiting_ack: list[tuple[int, int, Side, int]] = field(default_factory=list)
    max_timeline: int = MAX_TIMELINE
    sio_limits: tuple[int, int] = (16 * 1024 * 1024, 200)  # text characters, JSON depth
    spill: SpillFile | None = None  # where older rows and, once frozen, the bulky parts go
    older_timeline: OlderRows | None = None
    older_heartbeats: OlderRows | None = None

    def add_close(self, close: EngineClose, end_offset: int) -> None:
        """Record a close; remember its stream offset to learn when the peer ACKs it."""
        ackable = close.conn is not None and end_offset >= 0
        self.closes.append(replace(close, ackable=ackable) if ackable else close)
        if close.conn is not None and end_offset >= 0:
            self.awaiting_ack.append((len(self.closes) - 1, close.conn, close.side, end_offset))

    def acked(self, conn: int, sender: Side, ts_ns: int, offset: int) -> None:
        still = []
        for index, c_conn, c_side, end in self.awaiting_ack:
            if c_conn == conn and c_side is sender and end <= offset:
                self.closes[index] = replace(self.closes[index], acked_ns=ts_ns)
            else:
                still.append((index, c_conn, c_side, end))
        self.awaiting_ack = still

    def touch(self, ts_ns: int) -> None:
        self.last_seen_ns = max(self.last_seen_ns, ts_ns)

    def add_transport(self, name: str) -> None:
        if name not in self.transports:
            self.transports.append(name)

    def note(
        self,
        ts_ns: int,
        side: Side | None,
        layer: Layer,
        kind: str,
        text: str,
        conn: int | None = None,
        detail: str = "",
    ) -> None:
        """Append a timeline line, bounded so a chatty session cannot exhaust memory."""
        timeline = self.timeline
        count = len(timeline)
        if count + self.timeline_moved >= self.max_timeline - 1:  # the last line says it was cut
            self.timeline_cut = True
            return
        if len(detail) > MAX_DETAIL:
            detail = detail[:MAX_DETAIL]
        side_value = None if side is None else side._value_  # spill.side_value, inlined
        row = (ts_ns, side_value, layer._value_, kind, text, conn, detail)
        timeline.append(row)
        if kind == "malformed" or kind == "connect-error":
            self.digest_rows.append(row)
        if ts_ns > self.last_server_packet_ns and _server_packet(side_value, layer, kind):
            self.last_server_packet_ns = ts_ns
        if count >= TIMELINE_CHUNK and self.spill is not None:
            self._move_out_timeline()

    def _move_out_timeline(self) -> None:
        assert self.spill is not None
        if self.older_timeline is None:
            self.older_timeline = OlderRows(self.spill, key=0)
        self.timeline = self.older_timeline.take(self.timeline, RECENT_ROWS)
        self.timeline_moved = self.older_timeline.count

    def add_heartbeat(
        self, pinger: Side, ping_ns: int, pong_ns: int | None, acked_ns: int | None
    ) -> None:
        beats = self.heartbeats
        beats.append(heartbeat_row(pinger, ping_ns, pong_ns, acked_ns))
        if len(beats) >= HEARTBEAT_CHUNK and self.spill is not None:
            if self.older_heartbeats is None:
                self.older_heartbeats = OlderRows(self.spill, key=1)
            self.heartbeats = self.older_heartbeats.take(beats, 0)

    def socket_for(self, nsp: str) -> SocketState:
        """The newest socket of a namespace, or a new one when the last one has ended."""
        for sock in reversed(self.sockets):
            if sock.nsp == nsp:
                if sock.disconnected_ns is None and sock.connect_error is None:
                    return sock
                break
        sock = SocketState(nsp)
        self.sockets.append(sock)
        return sock

    def assembler(self, side: Side) -> BinaryAssembler:
        if side not in self.assemblers:
            self.assemblers[side] = BinaryAssembler()
        return self.assemblers[side]

    def mark_closed(self, ts_ns: int, sign: str) -> None:
        """Record the first observable end of the session; later signs do not move it."""
        if self.closed_ns is None:
            self.closed_ns = ts_ns
            self.close_sign = sign

    def freeze(self, capture_end_ns: int | None) -> Session:
        """The finished record; its timeline, heartbeats and connections go to the spill file."""
        unanswered = [
            heartbeat_row(p.pinger, p.ts_ns, None, p.acked_ns) for p in self.pending_pings
        ]
        beat_refs, beats, beats_moved = _sorted(
            self.older_heartbeats, [*self.heartbeats, *unanswered], 1
        )
        if self.closed_ns is not None:
            for sock in self.sockets:
                if sock.is_open:
                    sock.disconnected_ns = self.closed_ns
        line_refs, lines, lines_moved = _sorted(self.older_timeline, self.timeline, 0)
        if self.timeline_cut:
            last_ns = lines[-1][0] if lines else self.opened_ns
            text = f"timeline cut after {lines_moved + len(lines)} events"
            lines.append((last_ns, None, Layer.EIO.value, "timeline-cut", text, None, ""))
        return Session(
            sid=self.sid,
            eio=self.eio,
            client=self.client,
            server=self.server,
            transports=tuple(self.transports),
            opened_ns=self.opened_ns,
            last_seen_ns=self.last_seen_ns,
            closed_ns=self.closed_ns,
            upgraded_ns=self.upgraded_ns,
            ping_interval_ms=self.ping_interval_ms,
            ping_timeout_ms=self.ping_timeout_ms,
            max_payload=self.max_payload,
            sockets=tuple(s.freeze() for s in self.sockets),
            heartbeats=spilled_rows(self.spill, HEARTBEATS, beats, beat_refs, beats_moved),
            closes=tuple(self.closes),
            http_failures=tuple(self.http_failures),
            connections=spilled(
                self.spill,
                CONNECTIONS,
                [c.facts or _open_conn_facts(c) for c in self.conns.values()],
            ),
            timeline=spilled_rows(self.spill, TIMELINE, lines, line_refs, lines_moved),
            user_agent=self.user_agent,
            open_at_capture_end=self.closed_ns is None,
            upgrade_failed=self.upgrade_failed,
            handshake_seen=self.handshake_seen,
            ws_conn=self.ws_conn,
            query=self.query,
            server_software=self.server_software,
            digest=self._digest(),
        )

    def _digest(self) -> TimelineDigest:
        """`model.digest_of(timeline)`, from the lines kept aside: the timeline is sorted by
        time, stably, so its malformed and connect-error lines come in this order too."""
        events = TIMELINE.records(sorted(self.digest_rows, key=itemgetter(0)))
        malformed = tuple(e for e in events if e.kind == "malformed")
        connect_errors = tuple(e for e in events if e.kind == "connect-error")
        return TimelineDigest(malformed, connect_errors, self.last_server_packet_ns)


def _server_packet(side_value: str | None, layer: Layer, kind: str) -> bool:
    """`model.is_server_packet`, on a row's side value: compiled here, per timeline line."""
    return side_value == "server" and (layer is Layer.EIO or layer is Layer.SIO) and kind != "close"


def _sorted(
    older: OlderRows | None, newest: list[Any], key: int
) -> tuple[list[RowsRef], list[Any], int]:
    """All rows sorted by column `key`, stably: the chunks already written that stay as they
    are, the rows to write after them, and how many rows those chunks hold."""
    if older is None:
        return [], sorted(newest, key=itemgetter(key)), 0
    refs, rest = older.sorted_with(newest)
    return refs, rest, older.count if refs else 0


def _open_conn_facts(conn: ConnState) -> ConnFacts:
    return ConnFacts(conn.conn, conn.transport, conn.opened_ns, None, None, None, None, None)


@dataclass(frozen=True, slots=True)
class Observation:
    """A capture-level fact the builder saw outside any live session (for findings)."""

    kind: str  # a root-cause slug: protocol-mismatch, session-unknown, upgrade-failed, ...
    ts_ns: int
    sid: str | None
    client: Endpoint | None
    text: str

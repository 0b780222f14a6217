"""From TCP events to transport events: HTTP/1.1 and WebSocket per connection, sans-I/O.

`FlowDecoder` keeps one `Http1Connection` (then two `WsParser`s after a 101) per TCP
connection, turns originator/responder into client/server, recognises TLS and other
non-HTTP connections (counted, their bytes ignored) and frees a connection's state as soon
as it closes. Diagnostics accumulate in `diagnostics`.
"""

from __future__ import annotations

import enum
import re
from typing import Final

from analyzer.core import Diagnostic, Endpoint, Severity, Side, new_record
from analyzer.engineio import may_be_close_or_ping, may_hold_close_or_ping
from analyzer.errors import DecodeError
from analyzer.http1 import Http1Connection, HttpLimits, HttpOut
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
from analyzer.tls import KeyLog, TlsDecryptor
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
    WsOpcode,
    WsOpened,
)
from analyzer.websocket import DeflateParams, WsLimits, WsOut, WsParser, parse_deflate_params

_REQUEST_START = re.compile(rb"[A-Z][A-Z_-]{0,19} ")
_MAYBE_REQUEST = re.compile(rb"[A-Z][A-Z_-]{0,19}")
_USUAL_REQUESTS = (b"GET ", b"POST ")
_HOLD_LIMIT: Final = 64 * 1024  # bytes held while the first sender's bytes are ambiguous
_TLS_RECORD_TYPES = frozenset(range(0x14, 0x18))  # change_cipher_spec .. application_data
# Too few bytes to tell a TLS record from anything else yet.
_UNDECIDED_STARTS = frozenset([b"", *(bytes([t]) for t in _TLS_RECORD_TYPES)])
_MIRRORED_END = {
    TcpEnd.RESET_BY_CLIENT: TcpEnd.RESET_BY_SERVER,
    TcpEnd.RESET_BY_SERVER: TcpEnd.RESET_BY_CLIENT,
    TcpEnd.CLOSED_BY_CLIENT_ONLY: TcpEnd.CLOSED_BY_SERVER_ONLY,
    TcpEnd.CLOSED_BY_SERVER_ONLY: TcpEnd.CLOSED_BY_CLIENT_ONLY,
}
# Each direction's side, by the client's direction: re-keys per-direction facts, in order.
_SIDES_IF_CLIENT_IS = {
    client: {client: Side.CLIENT, client.other: Side.SERVER} for client in Direction
}


class FlowKind(enum.Enum):
    """What a connection carries, decided from the first bytes it sent."""

    PENDING = "pending"  # no (or too few) bytes yet
    HTTP = "http"
    TLS = "tls"
    OTHER = "other"


def classify_first_bytes(data: bytes) -> tuple[FlowKind, bool | None]:
    """(kind, whether the sender is the client) from a connection's first bytes.

    PENDING means the bytes so far fit more than one answer.
    """
    if data.startswith(_USUAL_REQUESTS):  # decided at once, as _REQUEST_START would
        return FlowKind.HTTP, True
    if len(data) >= 2 and data[0] in _TLS_RECORD_TYPES and data[1] == 3:
        return FlowKind.TLS, data[0] == 0x16
    if data.startswith(b"HTTP/"):
        return FlowKind.HTTP, False
    if _REQUEST_START.match(data):
        return FlowKind.HTTP, True
    undecided = len(data) < 2 and data[:1] in _UNDECIDED_STARTS
    if undecided or b"HTTP/".startswith(data) or _MAYBE_REQUEST.fullmatch(data):
        return FlowKind.PENDING, None
    return FlowKind.OTHER, None


class _Flow:
    """Everything kept about one open TCP connection.

    A plain class, not a dataclass: compiled (setup.py), its `__init__` is native code
    where a dataclass keeps its generated Python one, and one is made per connection."""

    __slots__ = (
        "awaited", "client_dir", "first_sender", "held", "http", "kind", "last_ts", "opened",
        "tls", "wanted", "ws",
    )  # fmt: skip

    def __init__(self, opened: ConnectionOpened) -> None:
        self.opened = opened
        self.kind = FlowKind.PENDING
        self.client_dir = Direction.ORIGINATOR
        self.first_sender: Direction | None = None
        self.held: list[StreamData | StreamGap] = []
        self.http: Http1Connection | None = None
        self.ws: tuple[WsParser, WsParser] | None = None  # (originator's, responder's) after a 101
        self.last_ts = opened.ts_ns
        self.tls: TlsDecryptor | None = None  # only with a key log
        self.wanted = True  # its TCP facts are reported: undecided, HTTP or decrypted TLS
        # Per side (client, server): the highest end offset of a record already emitted
        # that no DataAcked has covered yet; None: nothing waits.
        self.awaited: list[int | None] = [None, None]

    def side(self, direction: Direction) -> Side:
        return Side.CLIENT if direction is self.client_dir else Side.SERVER

    def ws_parser(self, direction: Direction) -> WsParser:
        """The parser of `direction`'s frames (the connection was upgraded)."""
        assert self.ws is not None
        return self.ws[0] if direction is Direction.ORIGINATOR else self.ws[1]

    def endpoints(self) -> tuple[Endpoint, Endpoint]:
        """(client, server)."""
        pair = (self.opened.originator, self.opened.responder)
        return pair if self.client_dir is Direction.ORIGINATOR else (pair[1], pair[0])


_BINARY = WsOpcode.BINARY  # bound once: an enum lookup through the class per message is slow


def _await_acks(flow: _Flow, records: list[TransportEvent]) -> None:
    """Note the end offsets of the records just emitted, per side, for `_acked`.

    Only records whose delivery time consumers use wait: close frames, and the polling
    responses and websocket messages that may carry Engine.IO pings or closes.
    Acknowledgements of other messages (most of them) are not passed on."""
    awaited = flow.awaited
    for record in records:
        kind = type(record)
        if kind is WsMessage:
            message: WsMessage = record  # type: ignore[assignment]
            if may_be_close_or_ping(message.payload, message.opcode is _BINARY):
                _await(awaited, message.side, message.end_offset)
        elif kind is WsClose:
            _await(awaited, record.side, record.end_offset)  # type: ignore[union-attr]
        elif kind is HttpExchange:
            response = record.response  # type: ignore[union-attr]
            if (
                response is not None and response.end_offset >= 0
                and may_hold_close_or_ping(response.body)
            ):  # fmt: skip
                _await(awaited, Side.SERVER, response.end_offset)


def _await(awaited: list[int | None], side: Side, end_offset: int) -> None:
    if end_offset < 0:
        return  # no offset: nothing an acknowledgement could be matched with
    index = 0 if side is Side.CLIENT else 1
    current = awaited[index]
    awaited[index] = end_offset if current is None or end_offset > current else current


class FlowDecoder:
    """TCP events in, transport events out, in the order their last byte was seen."""

    def __init__(
        self,
        *,
        http_limits: HttpLimits | None = None,
        ws_limits: WsLimits | None = None,
        keylog: KeyLog | None = None,
    ) -> None:
        self._keylog = keylog
        self.http_limits = http_limits  # read by the sharded decoder for its workers
        self.ws_limits = ws_limits
        self._flows: dict[int, _Flow] = {}
        self._unknown_conns: set[int] = set()
        self.diagnostics: list[Diagnostic] = []
        self.tls_connections = 0
        self.tls_endpoints: list[tuple[Endpoint, Endpoint]] = []  # (client, server)
        self.other_connections = 0

    def feed(self, ev: TcpEvent) -> list[TransportEvent]:
        out: list[TransportEvent] = []
        if isinstance(ev, ConnectionOpened):
            self._flows[ev.conn] = _Flow(ev)
            return out
        flow = self._flows.get(ev.conn)
        if flow is None:
            self._unknown(ev.conn)
            return out
        if ev.ts_ns > flow.last_ts:
            flow.last_ts = ev.ts_ns
        # The most frequent events first; isinstance chains beat `match` here.
        if isinstance(ev, StreamData):
            self._on_stream(flow, ev, out)
            if out:
                _await_acks(flow, out)
        elif isinstance(ev, Acked):
            if flow.wanted:
                self._acked(flow, ev, out)
        elif isinstance(ev, ConnectionClosed):
            self._on_closed(flow, ev, out)
        elif isinstance(ev, StreamGap):
            self._on_stream(flow, ev, out)
            if out:
                _await_acks(flow, out)
        elif isinstance(ev, Retransmitted) and flow.wanted:
            side = flow.side(ev.direction)
            out.append(Retransmission(ev.conn, side, ev.ts_ns, ev.offset, ev.length))
        return out

    @staticmethod
    def _acked(flow: _Flow, ev: Acked, out: list[TransportEvent]) -> None:
        """A DataAcked, if a record of that side may still wait for its acknowledgement.

        Consumers use acknowledgements only to learn when a record's last byte (its end
        offset) reached the peer's host: the first ACK at or beyond it after the record was
        emitted. Every ACK is passed on from a record's emission until one covers all the
        side's records; the rest (most of them, as data is ACKed segment by segment) are
        not worth a record.
        """
        client = ev.direction is flow.client_dir
        awaited = flow.awaited[0 if client else 1]
        if awaited is None:
            return
        offset = flow.tls.plain_offset(ev.direction, ev.offset) if flow.tls else ev.offset
        side = Side.CLIENT if client else Side.SERVER
        out.append(new_record(DataAcked, (ev.conn, side, ev.ts_ns, offset)))
        if offset >= awaited:
            flow.awaited[0 if client else 1] = None

    def finish(self) -> list[TransportEvent]:
        """Close what TCP reassembly left open (it normally closes everything itself)."""
        out: list[TransportEvent] = []
        for flow in list(self._flows.values()):
            ts = flow.last_ts
            end = TcpEnd.OPEN_AT_END if flow.opened.handshake_seen else TcpEnd.MIDSTREAM
            closed = ConnectionClosed(
                flow.opened.conn, ts, end, None, None, None, None, {}, {}, 0, 0, 0
            )
            self._on_closed(flow, closed, out)
        return out

    # -- stream data -----------------------------------------------------------------

    def _on_stream(
        self, flow: _Flow, ev: StreamData | StreamGap, out: list[TransportEvent]
    ) -> None:
        if flow.kind is FlowKind.HTTP:  # the usual case, without _route's checks
            self._route_plain(flow, ev, out)
            return
        if flow.kind is not FlowKind.PENDING:
            self._route(flow, ev, out)
            return
        if not flow.held and isinstance(ev, StreamData) and ev.data:
            # The usual first segment decides alone: nothing held to join.
            kind, sender_is_client = classify_first_bytes(ev.data[:64])
            if kind is not FlowKind.PENDING or len(ev.data) > _HOLD_LIMIT:
                flow.first_sender = ev.direction
                self._decide(flow, kind, sender_is_client, ev.data)
                self._route(flow, ev, out)
                return
        flow.held.append(ev)
        held_bytes = sum(len(e.data) for e in flow.held if isinstance(e, StreamData))
        self._classify(flow, final=held_bytes > _HOLD_LIMIT)
        if flow.kind is FlowKind.PENDING:
            return
        held, flow.held = flow.held, []
        for item in held:
            self._route(flow, item, out)

    def _classify(self, flow: _Flow, *, final: bool) -> None:
        if flow.first_sender is None:
            first = next((e for e in flow.held if isinstance(e, StreamData) and e.data), None)
            if first is None:
                return
            flow.first_sender = first.direction
        sender = flow.first_sender
        data = b"".join(
            e.data for e in flow.held if isinstance(e, StreamData) and e.direction is sender
        )
        kind, sender_is_client = classify_first_bytes(data[:64])
        if kind is FlowKind.PENDING and not final:
            return
        self._decide(flow, kind, sender_is_client, data)
        flow.held = flow.held if flow.http is not None else []

    def _decide(
        self, flow: _Flow, kind: FlowKind, sender_is_client: bool | None, data: bytes
    ) -> None:
        """Settle what `flow` carries from its first sender's bytes `data`."""
        assert flow.first_sender is not None
        sender = flow.first_sender
        flow.kind = FlowKind.OTHER if kind is FlowKind.PENDING else kind
        if sender_is_client is not None:
            flow.client_dir = sender if sender_is_client else sender.other
        if flow.kind is FlowKind.TLS and self._keylog is not None:
            flow.tls = TlsDecryptor(flow.opened.conn, flow.client_dir, self._keylog)
        if flow.kind is FlowKind.HTTP or flow.tls is not None:
            flow.http = Http1Connection(
                flow.opened.conn,
                flow.opened.originator,
                flow.opened.responder,
                client=flow.client_dir,
                limits=self.http_limits,
            )
        flow.wanted = flow.http is not None
        if flow.kind is FlowKind.TLS:
            self.tls_connections += 1
            self.tls_endpoints.append(flow.endpoints())
        elif flow.kind is not FlowKind.HTTP:
            self.other_connections += 1
            self._diag(flow, "flow-not-http", f"first bytes {data[:16]!r} are not HTTP or TLS")

    def _route(self, flow: _Flow, ev: StreamData | StreamGap, out: list[TransportEvent]) -> None:
        if flow.tls is not None:
            for plain in self._decrypt(flow.tls, ev):
                self._route_plain(flow, plain, out)
        elif flow.kind is FlowKind.HTTP:
            self._route_plain(flow, ev, out)

    def _decrypt(
        self, tls: TlsDecryptor, ev: StreamData | StreamGap
    ) -> list[StreamData | StreamGap]:
        """TLS stream bytes to plaintext stream events (plaintext offsets)."""
        plain: list[StreamData | StreamGap] = []
        if isinstance(ev, StreamData):
            for direction, ts_ns, data, offset in tls.feed(
                ev.direction, ev.ts_ns, ev.data, ev.offset
            ):
                plain.append(StreamData(ev.conn, direction, ts_ns, offset, data))
        else:
            tls.gap(ev.direction, ev.ts_ns, ev.offset, ev.length)
            plain_end = tls.plain_end(ev.direction)
            plain.append(StreamGap(ev.conn, ev.direction, ev.ts_ns, plain_end, ev.length))
        self.diagnostics.extend(tls.diagnostics)
        tls.diagnostics.clear()
        return plain

    def _route_plain(
        self, flow: _Flow, ev: StreamData | StreamGap, out: list[TransportEvent]
    ) -> None:
        http = flow.http
        if http is None:
            return
        if flow.ws is not None:
            parser = flow.ws_parser(ev.direction)
            if isinstance(ev, StreamData):
                self._collect(parser.feed(ev.ts_ns, ev.data, ev.offset), out)
            else:
                self._collect(parser.gap(ev.ts_ns, ev.offset, ev.length), out)
            return
        if isinstance(ev, StreamData):
            results = http.feed(ev.direction, ev.ts_ns, ev.data, ev.offset)
        else:
            results = http.gap(ev.direction, ev.ts_ns, ev.offset, ev.length)
        for item in results:
            if isinstance(item, Diagnostic):
                self.diagnostics.append(item)
                continue
            out.append(item)
            if isinstance(item, WsOpened):
                self._open_websocket(flow, item, out)

    def _open_websocket(self, flow: _Flow, opened: WsOpened, out: list[TransportEvent]) -> None:
        assert flow.http is not None
        deflate: DeflateParams | None
        try:
            deflate = parse_deflate_params(opened.extensions)
        except DecodeError as err:
            self._diag(flow, "ws-bad-extensions", f"{err.message}; assuming defaults")
            deflate = DeflateParams()
        conn, limits = flow.opened.conn, self.ws_limits
        flow.ws = (
            WsParser(conn, flow.side(Direction.ORIGINATOR), deflate=deflate, limits=limits),
            WsParser(conn, flow.side(Direction.RESPONDER), deflate=deflate, limits=limits),
        )
        for direction, ts_ns, offset, data in flow.http.take_upgraded_data():
            self._collect(flow.ws_parser(direction).feed(ts_ns, data, offset), out)

    def _collect(self, items: list[HttpOut] | list[WsOut], out: list[TransportEvent]) -> None:
        for item in items:
            if isinstance(item, Diagnostic):
                self.diagnostics.append(item)
            else:
                out.append(item)

    # -- connection end --------------------------------------------------------------

    def _on_closed(self, flow: _Flow, ev: ConnectionClosed, out: list[TransportEvent]) -> None:
        if flow.kind is FlowKind.PENDING and flow.held:
            self._classify(flow, final=True)
            held, flow.held = flow.held, []
            for item in held:
                self._route(flow, item, out)
        if flow.ws is not None:
            for parser in flow.ws:
                self._collect(parser.finish(), out)
        elif flow.http is not None and not flow.http.settled:
            server_dir = flow.client_dir.other
            server_closed = ev.first_fin is server_dir or ev.end is TcpEnd.CLEAN_CLOSE
            abort = self._abort_kind(flow, ev)
            self._collect(flow.http.finish(ev.ts_ns, abort, server_closed=server_closed), out)
        if flow.wanted:
            out.append(self._ended(flow, ev))
        del self._flows[ev.conn]

    @staticmethod
    def _abort_kind(flow: _Flow, ev: ConnectionClosed) -> AbortKind:
        """Who ended the connection first (FIN or RST), for requests left unanswered."""
        closes = [
            (ts, d)
            for d, ts in ((ev.first_fin, ev.fin_ts_ns), (ev.first_rst, ev.rst_ts_ns))
            if d is not None and ts is not None
        ]
        if not closes:
            return AbortKind.CAPTURE_ENDED
        first = min(closes, key=lambda close: close[0])[1]
        return AbortKind.CLIENT_CLOSED if first is flow.client_dir else AbortKind.SERVER_CLOSED

    @staticmethod
    def _ended(flow: _Flow, ev: ConnectionClosed) -> ConnectionEnded:
        client, server = flow.endpoints()
        client_dir = flow.client_dir
        sides = _SIDES_IF_CLIENT_IS[client_dir]
        end = _MIRRORED_END.get(ev.end, ev.end) if client_dir is Direction.RESPONDER else ev.end
        return new_record(ConnectionEnded, (
            ev.conn,
            client,
            server,
            ev.ts_ns,
            end,
            sides[ev.first_fin] if ev.first_fin else None,
            sides[ev.first_rst] if ev.first_rst else None,
            ev.fin_ts_ns,
            ev.rst_ts_ns,
            {sides[d]: value for d, value in ev.last_payload_ns.items()},
            {sides[d]: value for d, value in ev.retransmissions.items()},
            ev.gap_bytes,
            flow.opened.direction_guessed,
        ))  # fmt: skip

    # -- diagnostics -----------------------------------------------------------------

    def _unknown(self, conn: int) -> None:
        if conn not in self._unknown_conns:
            self._unknown_conns.add(conn)
            self.diagnostics.append(
                Diagnostic(
                    "flow-unknown-conn",
                    Severity.WARNING,
                    f"conn {conn}",
                    "event before ConnectionOpened",
                )
            )

    def _diag(self, flow: _Flow, code: str, message: str) -> None:
        self.diagnostics.append(
            Diagnostic(code, Severity.INFO, f"conn {flow.opened.conn}", message)
        )

"""Rebuild Engine.IO sessions from transport events.

One session per sid, across all its polling requests (on any TCP connection) and its
websocket. Requests are tied to sessions by the sid in the URL, never by port. Closed
sessions leave as soon as a short linger has passed in capture time, so memory follows
the number of open sessions.
"""

from __future__ import annotations

from collections import OrderedDict

from analyzer.core import NS_PER_S, Diagnostic, Endpoint, Severity, Side
from analyzer.engineio import (
    EioPacket,
    EioPacketType,
    EioQuery,
    decode_polling_body,
    decode_ws_message,
    is_engineio_request,
    parse_error_response,
    parse_handshake,
    parse_query,
)
from analyzer.errors import SioscopeError
from analyzer.model import ConnFacts, EngineClose, HttpFailure, Layer, Session
from analyzer.sessions.packets import apply_eio, describe, note_acked
from analyzer.sessions.state import ConnState, Observation, SessionState
from analyzer.transport import (
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    Retransmission,
    TransportEvent,
    WsClose,
    WsControl,
    WsMessage,
    WsOpcode,
    WsOpened,
    header,
)

LINGER_NS = 15 * NS_PER_S  # keep a closed session this long for late requests and TCP ends
SWEEP_EVERY_NS = NS_PER_S
MAX_CONNS_PER_SESSION = 512
MAX_RETRANSMIT_NOTES = 50


ENGINE_PARAMS = frozenset({"EIO", "transport", "t", "sid", "b64", "j"})


def app_query(query: EioQuery) -> tuple[tuple[str, str], ...]:
    """The application's own query parameters (a client fingerprint across reconnects)."""
    return tuple((k, v) for k, v in query.params if k not in ENGINE_PARAMS)


class SessionBuilder:
    """Feed transport events in capture order; collect finished `Session` records."""

    def __init__(self, linger_ns: int = LINGER_NS) -> None:
        self._linger_ns = linger_ns
        self._sessions: dict[str, SessionState] = {}
        self._conn_sid: dict[int, str] = {}
        self._ws_pending: dict[int, tuple[WsOpened, EioQuery]] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._now = 0
        self._next_sweep = 0
        self.observations: list[Observation] = []
        self.diagnostics: list[Diagnostic] = []

    # -- public -----------------------------------------------------------------------

    def feed(self, event: TransportEvent) -> list[Session]:
        match event:
            case HttpExchange():
                self._exchange(event)
            case WsOpened():
                self._ws_opened(event)
            case WsMessage():
                self._ws_message(event)
            case WsClose():
                self._ws_close(event)
            case WsControl():
                self._ws_control(event)
            case ConnectionEnded():
                self._conn_ended(event)
            case DataAcked():
                self._acked(event)
            case Retransmission():
                self._retransmission(event)
        return self._sweep()

    def finish(self, end_ns: int | None) -> list[Session]:
        """Freeze every remaining session; the capture's end is not a close."""
        done = []
        for state in list(self._sessions.values()):
            self._close_if_silent(state, end_ns)
            done.append(self._release(state, end_ns))
        return done

    @property
    def open_sessions(self) -> int:
        return len(self._sessions)

    # -- HTTP long-polling ----------------------------------------------------------------

    def _exchange(self, ex: HttpExchange) -> None:
        query = parse_query(ex.request.target)
        if not is_engineio_request(query):
            self._page_load(ex)
            return
        self._advance(ex.request.ts_ns)
        if query.transport == "websocket":
            self._upgrade_refused(ex, query)
        elif query.sid is None:
            self._handshake(ex, query)
        else:
            state = self._session_for_request(ex, query)
            if state is not None:
                self._polling(state, ex, query)

    def _page_load(self, ex: HttpExchange) -> None:
        """An HTML document fetched beside the sessions: a page (re)loading in a browser."""
        resp = ex.response
        ctype = header(resp.headers, "content-type") if resp is not None else None
        if ex.request.method == "GET" and ctype is not None and ctype.startswith("text/html"):
            text = f"page loaded: GET {ex.request.target[:120]}"
            self.observations.append(
                Observation("page-load", ex.request.ts_ns, None, ex.client, text)
            )

    def _handshake(self, ex: HttpExchange, query: EioQuery) -> None:
        resp = ex.response
        if resp is None or resp.status != 200:
            self._failed_handshake(ex, query)
            return
        decoded = decode_polling_body(
            resp.body, query.eio or 4, header(resp.headers, "content-type")
        )
        packets = list(decoded.packets)
        if not packets or packets[0].type is not EioPacketType.OPEN:
            self._diag(
                "handshake-without-open",
                f"conn {ex.conn}",
                "polling handshake answered without an open packet: "
                + describe(resp.body.decode("utf-8", "replace")),
            )
            return
        state = self._open_session(
            packets[0], query, ex.client, ex.server, resp.ts_ns, ex.conn, "polling"
        )
        if state is None:
            return
        state.user_agent = header(ex.request.headers, "user-agent")
        state.query = app_query(query)
        state.server_software = header(resp.headers, "server")
        state.note(
            ex.request.ts_ns,
            Side.CLIENT,
            Layer.HTTP,
            "handshake-request",
            f"GET handshake EIO={query.eio} transport=polling",
            ex.conn,
            ex.request.target,
        )
        self._bind_conn(state, ex.conn, "polling", ex.request.ts_ns)
        for packet in packets[1:]:
            self._apply(
                state, Side.SERVER, resp.end_ns, packet, ex.conn, resp.end_offset, "polling"
            )
        if decoded.error:
            self._malformed_payload(state, Side.SERVER, resp.end_ns, decoded.error, ex.conn)

    def _open_session(
        self,
        packet: EioPacket,
        query: EioQuery,
        client: Endpoint,
        server: Endpoint,
        ts_ns: int,
        conn: int,
        transport: str,
    ) -> SessionState | None:
        try:
            shake = parse_handshake(packet)
        except SioscopeError as exc:
            self._diag("bad-handshake", f"conn {conn}", f"unreadable open packet: {exc}")
            return None
        state = self._sessions.get(shake.sid)
        if state is not None or shake.sid in self._finished:
            self._diag(
                "repeated-sid", f"conn {conn}", f"sid {shake.sid} opened twice; keeping the first"
            )
            return None
        state = SessionState(shake.sid, query.eio, client, server, ts_ns, last_seen_ns=ts_ns)
        state.ping_interval_ms = shake.ping_interval_ms
        state.ping_timeout_ms = shake.ping_timeout_ms
        state.max_payload = shake.max_payload
        state.add_transport(transport)
        upgrades = ",".join(shake.upgrades) or "none"
        state.note(
            ts_ns,
            Side.SERVER,
            Layer.EIO,
            "handshake",
            f"open sid={shake.sid} pingInterval={shake.ping_interval_ms} "
            f"pingTimeout={shake.ping_timeout_ms} upgrades={upgrades}",
            conn,
            describe(packet.data, 400),
        )
        self._sessions[shake.sid] = state
        return state

    def _session_for_request(self, ex: HttpExchange, query: EioQuery) -> SessionState | None:
        sid = query.sid or ""
        state = self._sessions.get(sid)
        if state is not None:
            return state
        failure = self._failure(ex, query)
        if sid in self._finished:
            text = f"{ex.request.method} for sid {sid} after the session had ended"
            self.observations.append(
                Observation("late-request", ex.request.ts_ns, sid, ex.client, text)
            )
            return None
        if failure is not None and failure.status is not None and failure.status >= 400:
            text = f"{ex.request.method} sid={sid} answered {failure.status} {failure.message!r}"
            self.observations.append(
                Observation("session-unknown", ex.request.ts_ns, sid, ex.client, text)
            )
            return None
        # The capture started after this session's handshake: follow it from here.
        state = SessionState(
            sid,
            query.eio,
            ex.client,
            ex.server,
            ex.request.ts_ns,
            handshake_seen=False,
            last_seen_ns=ex.request.ts_ns,
        )
        state.add_transport("polling")
        state.note(
            ex.request.ts_ns,
            None,
            Layer.EIO,
            "midstream",
            "capture starts inside this session (no handshake seen)",
            ex.conn,
        )
        self._sessions[sid] = state
        return state

    def _polling(self, state: SessionState, ex: HttpExchange, query: EioQuery) -> None:
        req, resp = ex.request, ex.response
        self._bind_conn(state, ex.conn, "polling", req.ts_ns)
        state.touch(req.ts_ns)
        eio = state.eio or query.eio or 4
        if req.method == "POST":
            state.note(
                req.ts_ns, Side.CLIENT, Layer.HTTP, "post", f"POST {len(req.body)} bytes", ex.conn
            )
            decoded = decode_polling_body(req.body, eio, header(req.headers, "content-type"))
            if resp is not None and resp.status >= 400:
                self._refused_post(state, ex, decoded.packets)
            else:
                for packet in decoded.packets:
                    self._apply(state, Side.CLIENT, req.end_ns, packet, ex.conn, -1, "polling")
            if decoded.error:
                self._malformed_payload(state, Side.CLIENT, req.end_ns, decoded.error, ex.conn)
        failure = self._failure(ex, query)
        if failure is not None:
            self._record_failure(state, ex, failure)
            return
        if resp is not None and req.method == "GET":
            decoded = decode_polling_body(resp.body, eio, header(resp.headers, "content-type"))
            for packet in decoded.packets:
                self._apply(
                    state, Side.SERVER, resp.end_ns, packet, ex.conn, resp.end_offset, "polling"
                )
            if decoded.error:
                self._malformed_payload(state, Side.SERVER, resp.end_ns, decoded.error, ex.conn)

    def _refused_post(
        self, state: SessionState, ex: HttpExchange, packets: tuple[EioPacket, ...]
    ) -> None:
        """Packets of a POST the server refused never reached the session: only a close
        packet among them is kept, marked refused (the client did try to close)."""
        kinds = ",".join(p.type.name.lower() for p in packets)
        state.note(
            ex.request.end_ns,
            Side.CLIENT,
            Layer.EIO,
            "refused",
            f"POST refused by the server; its packets ({kinds}) were not delivered",
            ex.conn,
        )
        for packet in packets:
            if packet.type is EioPacketType.CLOSE:
                state.closes.append(
                    EngineClose(
                        Side.CLIENT,
                        ex.request.end_ns,
                        "eio-close-packet",
                        conn=ex.conn,
                        refused=True,
                    )
                )

    def _failure(self, ex: HttpExchange, query: EioQuery) -> HttpFailure | None:
        resp = ex.response
        transport = query.transport or "?"
        if resp is None:
            abort = ex.abort.value if ex.abort else "no-response"
            if ex.abort is not None and ex.abort.value == "capture-ended":
                return None
            message = ex.error_text or "no response"
            return HttpFailure(
                ex.request.ts_ns, ex.request.method, transport, None, None, message, abort
            )
        if resp.status < 400:
            return None
        err = parse_error_response(resp.status, resp.body, header(resp.headers, "content-type"))
        code = err.code if err else None
        message = err.message if err else resp.reason
        return HttpFailure(resp.ts_ns, ex.request.method, transport, resp.status, code, message)

    def _record_failure(self, state: SessionState, ex: HttpExchange, failure: HttpFailure) -> None:
        state.http_failures.append(failure)
        state.touch(failure.ts_ns)
        if failure.status is None:
            text = f"{failure.method} got no response ({failure.abort}: {failure.message})"
            end_ns = ex.request.ts_ns if ex.response is None else failure.ts_ns
            state.note(failure.ts_ns, None, Layer.HTTP, "aborted", text, ex.conn)
            if failure.abort in ("client-closed", "server-closed", "har-error"):
                state.mark_closed(max(end_ns, state.last_seen_ns), f"polling {text}")
            return
        code = f" code {failure.code}" if failure.code is not None else ""
        text = f"{failure.method} answered {failure.status}{code} {failure.message!r}"
        state.note(failure.ts_ns, Side.SERVER, Layer.HTTP, "http-error", text, ex.conn)
        state.mark_closed(failure.ts_ns, f"server answered {failure.status}{code}")

    def _failed_handshake(self, ex: HttpExchange, query: EioQuery) -> None:
        failure = self._failure(ex, query)
        if failure is None:
            return
        kind = {5: "protocol-mismatch", 4: "auth-rejected", 1: "session-unknown"}.get(
            failure.code or -1, "handshake-failed"
        )
        status = failure.status if failure.status is not None else failure.abort
        text = (
            f"handshake {ex.request.method} EIO={query.eio} answered {status} {failure.message!r}"
        )
        self.observations.append(Observation(kind, ex.request.ts_ns, None, ex.client, text))

    def _upgrade_refused(self, ex: HttpExchange, query: EioQuery) -> None:
        """A websocket request that got no 101: refused upgrade or websocket-only handshake."""
        failure = self._failure(ex, query)
        status = "no response" if ex.response is None else str(ex.response.status)
        message = failure.message if failure else ""
        state = self._sessions.get(query.sid or "")
        text = f"websocket request answered {status} {message!r}".strip()
        if state is None:
            kind = (
                "protocol-mismatch"
                if failure is not None and failure.code == 5
                else "upgrade-failed"
            )
            self.observations.append(
                Observation(kind, ex.request.ts_ns, query.sid, ex.client, text)
            )
            return
        state.upgrade_failed = True
        state.note(ex.request.ts_ns, None, Layer.HTTP, "upgrade-refused", text, ex.conn)
        self.observations.append(
            Observation("upgrade-failed", ex.request.ts_ns, state.sid, ex.client, text)
        )

    # -- websocket ------------------------------------------------------------------------

    def _ws_opened(self, ev: WsOpened) -> None:
        query = parse_query(ev.request.target)
        if not is_engineio_request(query):
            return
        self._advance(ev.ts_ns)
        if query.sid is None:
            self._ws_pending[ev.conn] = (ev, query)
            return
        state = self._sessions.get(query.sid)
        if state is None:
            state = SessionState(
                query.sid,
                query.eio,
                ev.client,
                ev.server,
                ev.ts_ns,
                handshake_seen=False,
                last_seen_ns=ev.ts_ns,
            )
            self._sessions[query.sid] = state
        state.ws_conn = ev.conn
        self._bind_conn(state, ev.conn, "websocket", ev.ts_ns)
        ext = f" ({ev.extensions})" if ev.extensions else ""
        state.note(
            ev.ts_ns, Side.SERVER, Layer.WS, "ws-open", f"websocket 101 for upgrade{ext}", ev.conn
        )

    def _ws_message(self, ev: WsMessage) -> None:
        self._advance(ev.ts_ns)
        if ev.conn in self._ws_pending:
            self._ws_only_handshake(ev)
            return
        state = self._state_of_conn(ev.conn)
        if state is None:
            return
        try:
            packet = decode_ws_message(ev.payload, ev.opcode is WsOpcode.BINARY, state.eio or 4)
        except SioscopeError as exc:
            self._malformed_payload(state, ev.side, ev.ts_ns, str(exc), ev.conn)
            return
        self._apply(state, ev.side, ev.ts_ns, packet, ev.conn, ev.end_offset, "websocket")

    def _ws_only_handshake(self, ev: WsMessage) -> None:
        opened, query = self._ws_pending.pop(ev.conn)
        try:
            packet = decode_ws_message(ev.payload, ev.opcode is WsOpcode.BINARY, query.eio or 4)
        except SioscopeError as exc:
            self._diag(
                "bad-ws-handshake", f"conn {ev.conn}", f"first websocket message unreadable: {exc}"
            )
            return
        if ev.side is not Side.SERVER or packet.type is not EioPacketType.OPEN:
            self._diag(
                "bad-ws-handshake",
                f"conn {ev.conn}",
                "websocket session did not start with an open packet",
            )
            return
        state = self._open_session(
            packet, query, opened.client, opened.server, ev.ts_ns, ev.conn, "websocket"
        )
        if state is None:
            return
        state.user_agent = header(opened.request.headers, "user-agent")
        state.query = app_query(query)
        state.server_software = header(opened.response.headers, "server")
        state.ws_conn = ev.conn
        state.upgraded_ns = None
        state.note(
            opened.ts_ns,
            Side.SERVER,
            Layer.WS,
            "ws-open",
            f"websocket 101, websocket-only session EIO={query.eio}",
            ev.conn,
            opened.request.target,
        )
        self._bind_conn(state, ev.conn, "websocket", opened.ts_ns)

    def _ws_close(self, ev: WsClose) -> None:
        self._advance(ev.ts_ns)
        state = self._state_of_conn(ev.conn)
        if state is None:
            self._ws_pending.pop(ev.conn, None)
            return
        state.touch(ev.ts_ns)
        code = "no code (peer reports 1005)" if ev.code is None else str(ev.code)
        reason = f" {ev.reason!r}" if ev.reason else ""
        state.add_close(
            EngineClose(ev.side, ev.ts_ns, "ws-close-frame", ev.code, ev.reason, ev.conn),
            ev.end_offset,
        )
        state.note(
            ev.ts_ns, ev.side, Layer.WS, "close-frame", f"close frame {code}{reason}", ev.conn
        )
        if self._carries_session(state, ev.conn):
            state.mark_closed(ev.ts_ns, f"{ev.side.value} sent a websocket close frame ({code})")

    def _ws_control(self, ev: WsControl) -> None:
        state = self._state_of_conn(ev.conn)
        if state is not None:
            state.note(
                ev.ts_ns,
                ev.side,
                Layer.WS,
                ev.opcode.name.lower(),
                f"websocket {ev.opcode.name.lower()} frame",
                ev.conn,
            )

    def _carries_session(self, state: SessionState, conn: int) -> bool:
        """True when `conn` is the websocket the session runs on (not a probe in progress)."""
        if state.ws_conn != conn:
            return False
        return state.upgraded_ns is not None or state.transports == ["websocket"]

    # -- TCP facts ---------------------------------------------------------------------

    def _conn_ended(self, ev: ConnectionEnded) -> None:
        self._advance(ev.ts_ns)
        self._ws_pending.pop(ev.conn, None)
        state = self._state_of_conn(ev.conn)
        if state is None:
            return
        cstate = state.conns.get(ev.conn)
        transport = cstate.transport if cstate else "polling"
        facts = ConnFacts(
            ev.conn,
            transport,
            cstate.opened_ns if cstate else ev.ts_ns,
            ev.ts_ns,
            ev.end.name,
            ev.end.conn_state,
            ev.first_fin,
            ev.first_rst,
            dict(ev.retransmissions),
            ev.fin_ts_ns,
            ev.rst_ts_ns,
        )
        if cstate is not None:
            cstate.facts = facts
        who = ev.first_rst or ev.first_fin
        by = f" first by {who.value}" if who else ""
        state.note(
            ev.ts_ns,
            who,
            Layer.TCP,
            "tcp-end",
            f"TCP {transport} connection ended: {ev.end.name} ({ev.end.conn_state}){by}",
            ev.conn,
        )
        if ev.end.name == "OPEN_AT_END":
            return
        if self._carries_session(state, ev.conn):
            state.mark_closed(ev.ts_ns, f"websocket TCP connection ended ({ev.end.name})")
        elif state.ws_conn == ev.conn and state.upgraded_ns is None:
            state.upgrade_failed = True
            state.note(
                ev.ts_ns,
                None,
                Layer.WS,
                "upgrade-failed",
                "websocket closed before the upgrade completed",
                ev.conn,
            )
        del self._conn_sid[ev.conn]

    def _acked(self, ev: DataAcked) -> None:
        state = self._state_of_conn(ev.conn)
        if state is None:
            return
        if state.pending_pings:
            note_acked(state, ev.conn, ev.sender, ev.ts_ns, ev.offset)
        if state.awaiting_ack:
            state.acked(ev.conn, ev.sender, ev.ts_ns, ev.offset)

    def _retransmission(self, ev: Retransmission) -> None:
        state = self._state_of_conn(ev.conn)
        if state is None:
            return
        notes = sum(1 for e in state.timeline[-MAX_RETRANSMIT_NOTES:] if e.kind == "retransmission")
        if notes < MAX_RETRANSMIT_NOTES:
            state.note(
                ev.ts_ns,
                ev.side,
                Layer.TCP,
                "retransmission",
                f"TCP retransmission of {ev.length} bytes",
                ev.conn,
            )

    # -- helpers -----------------------------------------------------------------------

    def _apply(
        self,
        state: SessionState,
        side: Side,
        ts_ns: int,
        packet: EioPacket,
        conn: int,
        end_offset: int,
        transport: str,
    ) -> None:
        for problem in apply_eio(state, side, ts_ns, packet, conn, end_offset, transport):
            self._diag("malformed-socketio", f"conn {conn}", problem)

    def _malformed_payload(
        self, state: SessionState, side: Side, ts_ns: int, error: str, conn: int
    ) -> None:
        state.note(ts_ns, side, Layer.EIO, "malformed", f"malformed Engine.IO data: {error}", conn)
        self._diag("malformed-engineio", f"conn {conn}", f"session {state.sid}: {error}")

    def _bind_conn(self, state: SessionState, conn: int, transport: str, ts_ns: int) -> None:
        self._conn_sid[conn] = state.sid
        if conn not in state.conns and len(state.conns) < MAX_CONNS_PER_SESSION:
            state.conns[conn] = ConnState(conn, transport, ts_ns)

    def _state_of_conn(self, conn: int) -> SessionState | None:
        sid = self._conn_sid.get(conn)
        return self._sessions.get(sid) if sid is not None else None

    def _diag(self, code: str, where: str, message: str) -> None:
        self.diagnostics.append(Diagnostic(code, Severity.WARNING, where, message))

    def _advance(self, ts_ns: int) -> None:
        self._now = max(self._now, ts_ns)

    def _sweep(self) -> list[Session]:
        if self._now < self._next_sweep:
            return []
        self._next_sweep = self._now + SWEEP_EVERY_NS
        done = []
        for state in list(self._sessions.values()):
            if state.closed_ns is not None and state.closed_ns + self._linger_ns < self._now:
                done.append(self._release(state, None))
        return done

    def _close_if_silent(self, state: SessionState, end_ns: int | None) -> None:
        """A session that fell silent for longer than its heartbeat allows has ended."""
        if state.closed_ns is not None or end_ns is None:
            return
        interval = state.ping_interval_ms or 25_000
        timeout = state.ping_timeout_ms or 20_000
        allowed = (interval + timeout) * 1_000_000 + NS_PER_S
        if end_ns - state.last_seen_ns > allowed:
            state.note(
                state.last_seen_ns,
                None,
                Layer.EIO,
                "silence",
                f"silent {(end_ns - state.last_seen_ns) / NS_PER_S:.1f} s until the capture ended",
            )
            state.mark_closed(state.last_seen_ns, "session fell silent")

    def _release(self, state: SessionState, end_ns: int | None) -> Session:
        del self._sessions[state.sid]
        for conn in state.conns:
            if self._conn_sid.get(conn) == state.sid:
                del self._conn_sid[conn]
        self._finished[state.sid] = state.closed_ns or state.last_seen_ns
        while len(self._finished) > 100_000:
            self._finished.popitem(last=False)
        return state.freeze(end_ns)

"""WebSocket transports: upgrades of polling sessions, websocket-only sessions, closes."""

from __future__ import annotations

from analyzer.core import Side
from analyzer.engineio import (
    EioPacketType,
    decode_ws_message,
    is_engineio_request,
    parse_query,
)
from analyzer.errors import SioscopeError
from analyzer.model import EngineClose, Layer
from analyzer.sessions.core import app_query
from analyzer.sessions.packets import apply_eio
from analyzer.sessions.polling import PollingHandling
from analyzer.sessions.state import SessionState
from analyzer.transport import (
    WsClose,
    WsControl,
    WsMessage,
    WsOpcode,
    WsOpened,
    header,
)

_BINARY = WsOpcode.BINARY  # bound once: enum lookups through the class are slow per message


class WebSocketHandling(PollingHandling):
    """Applies websocket opens, messages and close frames to sessions.

    Built on the polling handling, as most websockets upgrade a polling session: one line
    of inheritance (core, polling, websocket, builder), which mypyc can compile.
    """

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
            if not self._track(state):
                return
        state.ws_conn = ev.conn
        self._bind_conn(state, ev.conn, "websocket", ev.ts_ns)
        ext = f" ({ev.extensions})" if ev.extensions else ""
        state.note(
            ev.ts_ns, Side.SERVER, Layer.WS, "ws-open", f"websocket 101 for upgrade{ext}", ev.conn
        )

    def _ws_message(self, ev: WsMessage) -> None:
        # _advance and _state_of_conn inlined: this runs for every websocket message.
        conn, ts_ns = ev.conn, ev.ts_ns
        if ts_ns > self._now:
            self._now = ts_ns
        if conn in self._ws_pending:
            self._ws_only_handshake(ev)
            return
        sid = self._conn_sid.get(conn)
        state = self._sessions.get(sid) if sid is not None else None
        if state is None:
            return
        try:
            packet = decode_ws_message(ev.payload, ev.opcode is _BINARY, state.eio or 4)
        except SioscopeError as exc:
            self._malformed_payload(state, ev.side, ts_ns, str(exc), conn)
            return
        # apply_eio itself, not _apply: one call less per message.
        problems = apply_eio(state, ev.side, ts_ns, packet, conn, ev.end_offset, "websocket")
        if problems:
            self._sio_problems(conn, problems)

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

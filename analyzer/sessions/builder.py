"""Rebuild Engine.IO sessions from transport events.

One session per sid, across all its polling requests (on any TCP connection) and its
websocket. Requests are tied to sessions by the sid in the URL, never by port. Closed
sessions leave as soon as a short linger has passed in capture time, so memory follows
the number of open sessions.
"""

from __future__ import annotations

from analyzer.core import NS_PER_S
from analyzer.model import ConnFacts, Layer, Session
from analyzer.sessions.core import MAX_RETRANSMIT_NOTES, SWEEP_EVERY_NS
from analyzer.sessions.packets import note_acked
from analyzer.sessions.polling import PollingHandling
from analyzer.sessions.state import SessionState
from analyzer.sessions.websocket import WebSocketHandling
from analyzer.transport import (
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    Retransmission,
    TransportEvent,
    WsClose,
    WsControl,
    WsMessage,
    WsOpened,
)


class SessionBuilder(PollingHandling, WebSocketHandling):
    """Feed transport events in capture order; collect finished `Session` records."""

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

"""Rebuild Engine.IO sessions from transport events.

One session per sid, across all its polling requests (on any TCP connection) and its
websocket. Requests are tied to sessions by the sid in the URL, never by port. Closed
sessions leave as soon as a short linger has passed in capture time, so memory follows
the number of open sessions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from analyzer.core import NS_PER_S, Side
from analyzer.model import Layer, Session
from analyzer.sessions.core import MAX_RETRANSMIT_NOTES, SWEEP_EVERY_NS
from analyzer.sessions.packets import note_acked
from analyzer.sessions.records import make_conn_facts
from analyzer.sessions.state import ROW_KIND, SessionState
from analyzer.sessions.websocket import WebSocketHandling
from analyzer.transport import (
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    Retransmission,
    TcpEnd,
    TransportEvent,
    WsClose,
    WsControl,
    WsMessage,
    WsOpened,
)

# Bound once: enum lookups through the class are slow, and these run for every connection.
_TCP, _OPEN_AT_END = Layer.TCP, TcpEnd.OPEN_AT_END


class SessionBuilder(WebSocketHandling):
    """Feed transport events in capture order; collect finished `Session` records."""

    def feed(self, event: TransportEvent) -> list[Session]:
        if type(event) is DataAcked:  # the most frequent event: looked at right here, and as they
            sid = self._conn_sid.get(event.conn)  # never move the clock, no sweep follows
            state = self._sessions.get(sid) if sid is not None else None
            if state is not None and (state.pending_pings or state.awaiting_ack):
                self._acked(state, event)
            return []
        handler = _HANDLERS.get(type(event)) or _handler_of_subclass(event)
        if handler is not None:
            handler(self, event)
        if self._now < self._next_sweep:  # _sweep's own test, spared a call per event
            return []
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
        sid = self._conn_sid.get(ev.conn)  # _state_of_conn, inlined: one end per connection
        state = self._sessions.get(sid) if sid is not None else None
        if state is None:
            return
        end = ev.end
        cstate = state.conns.get(ev.conn)
        transport = cstate.transport if cstate else "polling"
        if cstate is not None:  # the facts of a connection past the per-session cap are dropped
            cstate.facts = make_conn_facts(
                ev.conn,
                transport,
                cstate.opened_ns,
                ev.ts_ns,
                end._name_,  # plain attributes: `.name`/`.value` are slow enum properties
                end._value_,
                ev.first_fin,
                ev.first_rst,
                self._shared_counts(ev.retransmissions),
                ev.fin_ts_ns,
                ev.rst_ts_ns,
            )
        who = ev.first_rst or ev.first_fin
        state.note(ev.ts_ns, who, _TCP, "tcp-end", _end_text(transport, end, who), ev.conn)
        if end is _OPEN_AT_END:
            return
        if self._carries_session(state, ev.conn):
            state.mark_closed(ev.ts_ns, f"websocket TCP connection ended ({end.name})")
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

    def _acked_subclass(self, ev: DataAcked) -> None:
        """A subclass of DataAcked, which `feed`'s shortcut for the exact type misses."""
        sid = self._conn_sid.get(ev.conn)
        state = self._sessions.get(sid) if sid is not None else None
        if state is not None:
            self._acked(state, ev)

    def _shared_counts(self, counts: dict[Side, int]) -> dict[Side, int]:
        """A copy of per-side counts, shared by every connection with the same counts:
        records never change them, and thousands of connections have a handful of them."""
        key = tuple(counts.items())
        shared = self._counts.get(key)
        if shared is None:
            shared = self._counts[key] = dict(counts)
        return shared

    def _acked(self, state: SessionState, ev: DataAcked) -> None:
        if state.pending_pings:
            note_acked(state, ev.conn, ev.sender, ev.ts_ns, ev.offset)
        if state.awaiting_ack:
            state.acked(ev.conn, ev.sender, ev.ts_ns, ev.offset)

    def _retransmission(self, ev: Retransmission) -> None:
        state = self._state_of_conn(ev.conn)
        if state is None:
            return
        recent = state.timeline[-MAX_RETRANSMIT_NOTES:]
        notes = sum(1 for row in recent if row[ROW_KIND] == "retransmission")
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


Handler = Callable[[SessionBuilder, Any], None]

# Dispatch by exact type: one dict lookup instead of a chain of isinstance tests.
_HANDLERS: dict[type, Handler] = {
    HttpExchange: SessionBuilder._exchange,
    WsOpened: SessionBuilder._ws_opened,
    WsMessage: SessionBuilder._ws_message,
    WsClose: SessionBuilder._ws_close,
    WsControl: SessionBuilder._ws_control,
    ConnectionEnded: SessionBuilder._conn_ended,
    DataAcked: SessionBuilder._acked_subclass,
    Retransmission: SessionBuilder._retransmission,
}


def _handler_of_subclass(event: TransportEvent) -> Handler | None:
    """The handler of a subclass of an event type (exact types are looked up directly)."""
    for kind, handler in _HANDLERS.items():
        if isinstance(event, kind):
            return handler
    return None


_END_TEXTS: dict[tuple[str, str, str], str] = {}


def _end_text(transport: str, end: TcpEnd, who: Side | None) -> str:
    """The tcp-end note; one shared string per outcome (there are few, and thousands of ends)."""
    key = (transport, end._name_, who._name_ if who else "")  # str keys hash in C
    text = _END_TEXTS.get(key)
    if text is None:
        by = f" first by {who.value}" if who else ""
        text = f"TCP {transport} connection ended: {end.name} ({end.conn_state}){by}"
        _END_TEXTS[key] = text
    return text

"""State and helpers the session builder's parts share: the sessions by sid, the
connections by id, and the bookkeeping of diagnostics and observations."""

from __future__ import annotations

from collections import OrderedDict

from analyzer.core import NS_PER_S, Diagnostic, Endpoint, Severity, Side
from analyzer.engineio import (
    EioPacket,
    EioQuery,
    parse_handshake,
)
from analyzer.errors import SioscopeError
from analyzer.limits import Limits
from analyzer.model import Layer
from analyzer.sessions.packets import apply_eio, describe
from analyzer.sessions.spill import SpillFile
from analyzer.sessions.state import RECENT_ROWS, ConnState, Observation, SessionState
from analyzer.transport import (
    WsOpened,
)

LINGER_NS = 15 * NS_PER_S  # keep a closed session this long for late requests and TCP ends
SWEEP_EVERY_NS = NS_PER_S
MAX_CONNS_PER_SESSION = 512
MAX_RETRANSMIT_NOTES = RECENT_ROWS  # counted among the lines an open session keeps at hand


ENGINE_PARAMS = frozenset({"EIO", "transport", "t", "sid", "b64", "j"})


def app_query(query: EioQuery) -> tuple[tuple[str, str], ...]:
    """The application's own query parameters (a client fingerprint across reconnects)."""
    return tuple((k, v) for k, v in query.params if k not in ENGINE_PARAMS)


class BuilderCore:
    """What every part of the builder needs: the open sessions and how to find them."""

    def __init__(
        self,
        linger_ns: int = LINGER_NS,
        limits: Limits | None = None,
        spill: SpillFile | None = None,
    ) -> None:
        self._linger_ns = linger_ns
        self._limits = limits or Limits()
        self._spill = spill  # where sessions put their timelines (None: kept in memory)
        self._refused_sessions = 0
        self._sessions: dict[str, SessionState] = {}
        self._conn_sid: dict[int, str] = {}
        self._ws_pending: dict[int, tuple[WsOpened, EioQuery]] = {}
        self._finished: OrderedDict[str, int] = OrderedDict()
        self._counts: dict[tuple[tuple[Side, int], ...], dict[Side, int]] = {}
        self._now = 0
        self._next_sweep = 0
        self.observations: list[Observation] = []
        self.diagnostics: list[Diagnostic] = []

    def _track(self, state: SessionState) -> bool:
        """Start following a session, within the bounds; False when over the open-session cap."""
        if len(self._sessions) >= self._limits.open_sessions:
            if not self._refused_sessions:
                self._diag(
                    "session-limit",
                    f"sid {state.sid}",
                    f"more than {self._limits.open_sessions} sessions open at once; newer ones "
                    "are not followed (raise --limit-open-sessions)",
                )
            self._refused_sessions += 1
            return False
        state.max_timeline = self._limits.timeline_events
        state.spill = self._spill
        state.sio_limits = (self._limits.sio_text_chars, self._limits.json_depth)
        self._sessions[state.sid] = state
        return True

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
        if not self._track(state):
            return None
        return state

    def _carries_session(self, state: SessionState, conn: int) -> bool:
        """True when `conn` is the websocket the session runs on (not a probe in progress)."""
        if state.ws_conn != conn:
            return False
        return state.upgraded_ns is not None or state.transports == ["websocket"]

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
        self._sio_problems(conn, apply_eio(state, side, ts_ns, packet, conn, end_offset, transport))

    def _sio_problems(self, conn: int, problems: list[str]) -> None:
        for problem in problems:
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
        if ts_ns > self._now:
            self._now = ts_ns

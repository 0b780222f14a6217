"""Engine.IO and Socket.IO packets applied to one session's state.

The builder finds the session and decodes transport bytes into Engine.IO packets; this
module says what each packet means for the session: heartbeats, upgrade, closes and the
namespace sockets.
"""

from __future__ import annotations

import json
import sys

from analyzer.core import Side
from analyzer.engineio import EioPacket, EioPacketType
from analyzer.errors import SioscopeError
from analyzer.model import EngineClose, Layer
from analyzer.sessions.state import PendingPing, SessionState, SocketState
from analyzer.socketio import (
    SioPacket,
    SioPacketType,
    connect_error_message,
    connect_info,
    decode_sio,
)

MAX_PENDING_PINGS = 64


def describe(data: str | bytes, limit: int = 80) -> str:
    """A short printable form of a packet's data for timelines."""
    if isinstance(data, bytes):
        return f"<{len(data)} bytes>"
    return data if len(data) <= limit else data[: limit - 1] + "…"


def apply_eio(
    state: SessionState,
    side: Side,
    ts_ns: int,
    packet: EioPacket,
    conn: int | None,
    end_offset: int,
    transport: str,
) -> list[str]:
    """Apply one Engine.IO packet; returns problems worth a diagnostic."""
    if ts_ns > state.last_seen_ns:  # state.touch, inlined: this runs for every packet
        state.last_seen_ns = ts_ns
    kind = packet.type
    if kind is _PING:
        _ping(state, side, ts_ns, packet, conn, end_offset, transport)
    elif kind is _PONG:
        _pong(state, side, ts_ns, packet, conn, transport)
    elif kind is _MESSAGE:
        return _message(state, side, ts_ns, packet, conn)
    elif kind is EioPacketType.CLOSE:
        state.add_close(EngineClose(side, ts_ns, "eio-close-packet", conn=conn), end_offset)
        state.note(ts_ns, side, Layer.EIO, "close", f"close packet (1) over {transport}", conn)
        state.mark_closed(ts_ns, f"{side.value} sent an Engine.IO close packet")
    elif kind is EioPacketType.UPGRADE:
        state.upgraded_ns = ts_ns
        state.add_transport("websocket")
        state.note(
            ts_ns, side, Layer.EIO, "upgrade", "upgrade (5): session moves to websocket", conn
        )
    elif kind is EioPacketType.NOOP:
        state.note(ts_ns, side, Layer.EIO, "noop", f"noop (6) over {transport}", conn)
    elif kind is EioPacketType.OPEN:
        state.note(ts_ns, side, Layer.EIO, "open", "open packet again", conn, describe(packet.data))
    return []


# Bound once: an enum member looked up through its class (metaclass lookup) costs more
# than the comparison it serves, and these run for every packet.
_PING, _PONG, _MESSAGE = EioPacketType.PING, EioPacketType.PONG, EioPacketType.MESSAGE
_CLIENT, _SERVER, _EIO = Side.CLIENT, Side.SERVER, Layer.EIO

# Heartbeat texts shared by every session, not one string per heartbeat.
_TRANSPORTS = ("polling", "websocket")
_PING_OVER = {t: f"ping (2) over {t}" for t in _TRANSPORTS}
_PING_PROBE_OVER = {t: f"ping probe over {t}" for t in _TRANSPORTS}
_PONG_PROBE_OVER = {t: f"pong probe over {t}" for t in _TRANSPORTS}


def _ping(
    state: SessionState,
    side: Side,
    ts_ns: int,
    packet: EioPacket,
    conn: int | None,
    end_offset: int,
    transport: str,
) -> None:
    if packet.data == "probe":
        text = _PING_PROBE_OVER.get(transport) or f"ping probe over {transport}"
        state.note(ts_ns, side, _EIO, "probe-ping", text, conn)
        return
    pending = state.pending_pings
    if len(pending) >= MAX_PENDING_PINGS:
        old = pending.pop(0)
        state.add_heartbeat(old.pinger, old.ts_ns, None, old.acked_ns)
    pending.append(PendingPing(side, ts_ns, conn, end_offset))
    text = _PING_OVER.get(transport) or f"ping (2) over {transport}"
    state.note(ts_ns, side, _EIO, "ping", text, conn)


def _pong(
    state: SessionState,
    side: Side,
    ts_ns: int,
    packet: EioPacket,
    conn: int | None,
    transport: str,
) -> None:
    if packet.data == "probe":
        text = _PONG_PROBE_OVER.get(transport) or f"pong probe over {transport}"
        state.note(ts_ns, side, _EIO, "probe-pong", text, conn)
        return
    # A pong answers the oldest unanswered ping of the other side; older ones stay unanswered.
    pinger = _SERVER if side is _CLIENT else _CLIENT
    pending = state.pending_pings
    for ping in pending:
        if ping.pinger is pinger:
            break
    else:
        state.note(ts_ns, side, _EIO, "pong", "pong (3) without a ping", conn)
        return
    pending.remove(ping)
    state.add_heartbeat(pinger, ping.ts_ns, ts_ns, ping.acked_ns)
    rtt_ms = (ts_ns - ping.ts_ns) / 1e6
    # Interned: sessions repeat the same few round trips, so they share the text.
    state.note(ts_ns, side, _EIO, "pong", sys.intern(f"pong (3) after {rtt_ms:.1f} ms"), conn)


def note_acked(state: SessionState, conn: int, sender: Side, ts_ns: int, offset: int) -> None:
    """A ping's bytes reached the other host (TCP ACK); remember when."""
    for ping in state.pending_pings:
        if (
            ping.conn == conn
            and ping.pinger is sender
            and ping.acked_ns is None
            and 0 <= ping.end_offset <= offset
        ):
            ping.acked_ns = ts_ns


def _message(
    state: SessionState, side: Side, ts_ns: int, packet: EioPacket, conn: int | None
) -> list[str]:
    assembler = state.assembler(side)
    try:
        if packet.binary or isinstance(packet.data, bytes):
            raw = packet.data if isinstance(packet.data, bytes) else packet.data.encode()
            done = assembler.add_attachment(raw)
            state.note(
                ts_ns, side, Layer.EIO, "binary", f"binary attachment, {len(raw)} bytes", conn
            )
        else:
            protocol = 5 if state.eio == 4 else 4
            chars, depth = state.sio_limits
            done = assembler.add_packet(
                decode_sio(packet.data, protocol, max_length=chars, max_depth=depth)
            )
    except SioscopeError as exc:
        state.note(
            ts_ns,
            side,
            Layer.SIO,
            "malformed",
            f"malformed Socket.IO packet: {exc}",
            conn,
            describe(packet.data, 200),
        )
        return [f"session {state.sid}: malformed Socket.IO packet from {side.value}: {exc}"]
    if done is not None:
        apply_sio(state, side, ts_ns, done, conn)
    return []


def apply_sio(
    state: SessionState, side: Side, ts_ns: int, packet: SioPacket, conn: int | None
) -> None:
    """Namespace bookkeeping for CONNECT / CONNECT_ERROR / DISCONNECT; events go to the timeline."""
    nsp = packet.nsp or "/"
    detail = describe(packet.raw, 300)
    kind = packet.type
    if kind is SioPacketType.CONNECT:
        _connect(state, side, ts_ns, packet, nsp, conn, detail)
    elif kind is SioPacketType.CONNECT_ERROR:
        sock = state.socket_for(nsp)
        sock.connect_error = connect_error_message(packet)
        state.note(
            ts_ns,
            side,
            Layer.SIO,
            "connect-error",
            f"{nsp}: connect error {sock.connect_error!r}",
            conn,
            detail,
        )
    elif kind is SioPacketType.DISCONNECT:
        sock = state.socket_for(nsp)
        if sock.disconnected_ns is None:
            sock.disconnected_ns = ts_ns
            sock.disconnect_packet_from = side
        state.note(ts_ns, side, Layer.SIO, "disconnect", f"{nsp}: disconnect (1)", conn, detail)
    else:
        state.note(ts_ns, side, Layer.SIO, _kind_tag(kind), _event_text(packet, nsp), conn, detail)


def _connect(
    state: SessionState,
    side: Side,
    ts_ns: int,
    packet: SioPacket,
    nsp: str,
    conn: int | None,
    detail: str,
) -> None:
    sock = state.socket_for(nsp)
    sid, pid, offset, auth = connect_info(packet)
    if side is Side.CLIENT:
        if sock.requested_ns is not None or sock.connected_ns is not None:
            sock = _fresh_socket(state, nsp)
        sock.requested_ns = ts_ns
        sock.auth = auth
        sock.recovered_from = pid
        text = f"{nsp}: connect request" + (f" (recovery pid, offset {offset})" if pid else "")
        state.note(ts_ns, side, Layer.SIO, "connect-request", text, conn, detail)
        return
    if sock.connected_ns is not None:
        sock = _fresh_socket(state, nsp)
    sock.connected_ns = ts_ns
    sock.pid = pid
    if sid is not None:
        sock.id = sid
    elif state.eio == 3:
        # socket.io 2.x: the socket id is derived from the engine sid.
        sock.id = state.sid if nsp == "/" else f"{nsp}#{state.sid}"
    state.note(ts_ns, side, Layer.SIO, "connect", f"{nsp}: connected as {sock.id}", conn, detail)


def _fresh_socket(state: SessionState, nsp: str) -> SocketState:
    sock = SocketState(nsp)
    state.sockets.append(sock)
    return sock


def _kind_tag(kind: SioPacketType) -> str:
    return kind.name.lower().replace("_", "-")


def _event_text(packet: SioPacket, nsp: str) -> str:
    ack = f" ack {packet.ack_id}" if packet.ack_id is not None else ""
    data = packet.data
    if (
        packet.type in (SioPacketType.EVENT, SioPacketType.BINARY_EVENT)
        and isinstance(data, list)
        and data
    ):
        return f"{nsp}: event {json.dumps(data[0])[:60]}{ack}"
    return f"{nsp}: {packet.type.name.lower()}{ack}"

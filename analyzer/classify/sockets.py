"""Socket.IO level: each namespace socket's reasons, from the DISCONNECT packets and the
engine-level decision."""

from __future__ import annotations

from dataclasses import replace

from analyzer.classify.engine import EngineEnd
from analyzer.classify.flavor import Flavors
from analyzer.core import Side
from analyzer.model import NamespaceSocket, Session, Verdict
from analyzer.reasons import (
    CLIENT_NAMESPACE_DISCONNECT,
    IO_CLIENT_DISCONNECT,
    IO_SERVER_DISCONNECT,
    PY_CLIENT_DISCONNECT,
    PY_SERVER_DISCONNECT,
    SERVER_NAMESPACE_DISCONNECT,
    SERVER_SHUTTING_DOWN,
    Cause,
    Outcome,
)


def classify_sockets(
    session: Session, end: EngineEnd, verdict: Verdict, flavors: Flavors
) -> tuple[NamespaceSocket, ...]:
    return tuple(_socket(session, sock, end, verdict, flavors) for sock in session.sockets)


def _socket(
    session: Session, sock: NamespaceSocket, end: EngineEnd, verdict: Verdict, flavors: Flavors
) -> NamespaceSocket:
    if sock.connected_ns is None:
        if sock.connect_error or sock.requested_ns is None:
            cause = Cause.AUTH_REJECTED.value if sock.connect_error else None
            return replace(sock, verdict=Verdict(cause=cause, confidence=0.9 if cause else 0.0))
        # The server got the CONNECT but its answer never reached the wire (it left on a
        # request another server answered): the server side had a socket, the client none.
        return replace(
            sock,
            verdict=Verdict(verdict.server_reason, None, verdict.cause, verdict.confidence * 0.7),
        )
    sender = sock.disconnect_packet_from
    if sender is Side.CLIENT and not _sent_with_close_packet(session, sock):
        server = PY_CLIENT_DISCONNECT if flavors.python_server else CLIENT_NAMESPACE_DISCONNECT
        client = PY_CLIENT_DISCONNECT if flavors.python_client else IO_CLIENT_DISCONNECT
        return replace(sock, verdict=Verdict(server, client, Cause.CLIENT_DISCONNECT.value, 0.95))
    if sender is Side.SERVER:
        server = PY_SERVER_DISCONNECT if flavors.python_server else SERVER_NAMESPACE_DISCONNECT
        client = PY_SERVER_DISCONNECT if flavors.python_client else IO_SERVER_DISCONNECT
        return replace(sock, verdict=Verdict(server, client, Cause.SERVER_DISCONNECT.value, 0.95))
    server_reason = verdict.server_reason
    if end.server is Outcome.SHUTDOWN and not flavors.python_server:
        # socket.io >= 3 tells sockets "server shutting down"; 2.x passes undefined.
        server_reason = SERVER_SHUTTING_DOWN if session.eio == 4 else None
    client_reason = verdict.client_reason
    if end.client is Outcome.SELF_CLOSED and not flavors.python_client and sender is Side.CLIENT:
        client_reason = IO_CLIENT_DISCONNECT
    return replace(
        sock, verdict=Verdict(server_reason, client_reason, verdict.cause, verdict.confidence)
    )


def _sent_with_close_packet(session: Session, sock: NamespaceSocket) -> bool:
    """A node server handles an Engine.IO close packet before a DISCONNECT that came in the
    same polling payload (socket.io decodes on the next tick), so the socket never sees it."""
    return any(
        c.side is Side.CLIENT and c.via == "eio-close-packet" and c.ts_ns == sock.disconnected_ns
        for c in session.closes
    )

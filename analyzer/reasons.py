"""The libraries' disconnect reasons, verbatim, and sioscope's root-cause slugs.

Reasons are never paraphrased: they are what a user finds in their logs. Each library
names the same event differently, so the classifier first decides what happened to a side
(an `Outcome`) and then asks that side's `Vocabulary` for the words its library uses.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

# -- Engine.IO level ------------------------------------------------------------------------
TRANSPORT_CLOSE = "transport close"
TRANSPORT_ERROR = "transport error"
PING_TIMEOUT = "ping timeout"
PARSE_ERROR = "parse error"
FORCED_CLOSE = "forced close"
# -- Socket.IO level, node -------------------------------------------------------------------
CLIENT_NAMESPACE_DISCONNECT = "client namespace disconnect"
SERVER_NAMESPACE_DISCONNECT = "server namespace disconnect"
SERVER_SHUTTING_DOWN = "server shutting down"
FORCED_SERVER_CLOSE = "forced server close"
IO_SERVER_DISCONNECT = "io server disconnect"
IO_CLIENT_DISCONNECT = "io client disconnect"
# -- python-socketio / python-engineio -------------------------------------------------------
PY_CLIENT_DISCONNECT = "client disconnect"
PY_SERVER_DISCONNECT = "server disconnect"


class Cause(enum.StrEnum):
    """Root causes (design §3); extended only when real captures call for it."""

    CLIENT_DISCONNECT = "client-disconnect"
    SERVER_DISCONNECT = "server-disconnect"
    CLIENT_LEFT = "client-left"
    CLIENT_RELOAD = "client-reload"
    NETWORK_LOSS = "network-loss"
    CLIENT_STALLED = "client-stalled"
    SERVER_STALLED = "server-stalled"
    SERVER_SHUTDOWN = "server-shutdown"
    SERVER_CRASH = "server-crash"
    PROXY_TIMEOUT = "proxy-timeout"
    SESSION_UNKNOWN = "session-unknown"
    UPGRADE_FAILED = "upgrade-failed"
    PAYLOAD_TOO_LARGE = "payload-too-large"
    PROTOCOL_ERROR = "protocol-error"
    PROTOCOL_MISMATCH = "protocol-mismatch"
    AUTH_REJECTED = "auth-rejected"
    CAPTURE_ENDED = "capture-ended"
    UNKNOWN = "unknown"


class Outcome(enum.Enum):
    """What ended a session for one side, before it is put into that library's words."""

    SELF_CLOSED = "self-closed"  # this side's application or library closed on purpose
    PEER_CLOSED = "peer-closed"  # the peer closed the transport (close frame, FIN, RST)
    PEER_CLOSE_PACKET = "peer-close-packet"  # the peer sent an Engine.IO close packet
    TRANSPORT_ERROR = "transport-error"  # an HTTP error, an aborted request, a bad frame
    PING_TIMEOUT = "ping-timeout"
    PARSE_ERROR = "parse-error"  # the peer sent an Engine.IO packet that does not parse
    DECODE_ERROR = "decode-error"  # the peer sent a Socket.IO packet that does not parse
    SHUTDOWN = "shutdown"  # the server closed every session (io.close())


@dataclass(frozen=True, slots=True)
class Vocabulary:
    """How one library names engine-level outcomes."""

    name: str
    words: dict[Outcome, str | None]

    def reason(self, outcome: Outcome | None) -> str | None:
        return None if outcome is None else self.words.get(outcome)


NODE_SERVER = Vocabulary(
    "socket.io (node) server",
    {
        Outcome.SELF_CLOSED: FORCED_CLOSE,
        Outcome.PEER_CLOSED: TRANSPORT_CLOSE,
        Outcome.PEER_CLOSE_PACKET: TRANSPORT_CLOSE,
        Outcome.TRANSPORT_ERROR: TRANSPORT_ERROR,
        Outcome.PING_TIMEOUT: PING_TIMEOUT,
        Outcome.PARSE_ERROR: PARSE_ERROR,
        Outcome.DECODE_ERROR: FORCED_CLOSE,
        Outcome.SHUTDOWN: FORCED_CLOSE,
    },
)
NODE_CLIENT = Vocabulary(
    "socket.io-client (node or browser)",
    {
        Outcome.SELF_CLOSED: FORCED_CLOSE,
        Outcome.PEER_CLOSED: TRANSPORT_CLOSE,
        Outcome.PEER_CLOSE_PACKET: TRANSPORT_CLOSE,
        Outcome.TRANSPORT_ERROR: TRANSPORT_ERROR,
        Outcome.PING_TIMEOUT: PING_TIMEOUT,
        Outcome.PARSE_ERROR: PARSE_ERROR,
        Outcome.DECODE_ERROR: PARSE_ERROR,
        Outcome.SHUTDOWN: TRANSPORT_CLOSE,
    },
)
PYTHON_SERVER = Vocabulary(
    "python-socketio server",
    {
        Outcome.SELF_CLOSED: PY_SERVER_DISCONNECT,
        Outcome.PEER_CLOSED: TRANSPORT_CLOSE,
        Outcome.PEER_CLOSE_PACKET: PY_CLIENT_DISCONNECT,
        Outcome.TRANSPORT_ERROR: TRANSPORT_ERROR,
        Outcome.PING_TIMEOUT: PING_TIMEOUT,
        Outcome.PARSE_ERROR: PY_SERVER_DISCONNECT,
        Outcome.DECODE_ERROR: PY_SERVER_DISCONNECT,
        Outcome.SHUTDOWN: PY_SERVER_DISCONNECT,
    },
)
PYTHON_CLIENT = Vocabulary(
    "python-socketio client",
    {
        Outcome.SELF_CLOSED: PY_CLIENT_DISCONNECT,
        Outcome.PEER_CLOSED: TRANSPORT_ERROR,
        Outcome.PEER_CLOSE_PACKET: PY_SERVER_DISCONNECT,
        Outcome.TRANSPORT_ERROR: TRANSPORT_ERROR,
        Outcome.PING_TIMEOUT: TRANSPORT_ERROR,
        Outcome.PARSE_ERROR: TRANSPORT_ERROR,
        Outcome.DECODE_ERROR: TRANSPORT_ERROR,
        Outcome.SHUTDOWN: TRANSPORT_ERROR,
    },
)


UNCLASSIFIED = "unclassified"  # the cause shown for a session the classifier left without one

"""The analyzer's public records: what reports and the TUI consume.

Everything here is frozen. Timestamps are epoch nanoseconds; reports convert them to
seconds once, at the edge.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from analyzer.capture.base import CaptureInfo
from analyzer.core import Diagnostic, Endpoint, Side


class Layer(enum.Enum):
    TCP = "tcp"
    HTTP = "http"
    WS = "ws"
    EIO = "eio"
    SIO = "sio"


@dataclass(frozen=True, slots=True)
class TimelineEvent:
    """One line of a session's timeline: who, when, at which layer, what."""

    ts_ns: int
    side: Side | None  # None: an observation not sent by either peer (capture end, gap)
    layer: Layer
    kind: str  # machine tag: handshake, ping, pong, probe, upgrade, connect, event, close-frame ...
    text: str  # short human text
    conn: int | None = None
    detail: str = ""  # the packet as decoded (bounded), for the packet-detail view


@dataclass(frozen=True, slots=True)
class TimelineDigest:
    """What the classifier reads off a session's timeline, gathered by the session builder
    as the lines came: a finished timeline lives in the spill file, and reading it back
    whole for these few facts cost more than the rest of the classification."""

    malformed: tuple[TimelineEvent, ...]  # "malformed" lines, in timeline order
    connect_errors: tuple[TimelineEvent, ...]  # "connect-error" lines, in timeline order
    last_server_packet_ns: int  # the server's last Engine.IO/Socket.IO line but a close; 0: none


def is_server_packet(side: Side | None, layer: Layer, kind: str) -> bool:
    """A line of a packet the server sent, as `TimelineDigest.last_server_packet_ns` counts."""
    return side is Side.SERVER and (layer is Layer.EIO or layer is Layer.SIO) and kind != "close"


def digest_of(timeline: Sequence[TimelineEvent]) -> TimelineDigest:
    """A timeline's digest, by reading all of it (for sessions that came without one)."""
    malformed, connect_errors, last = [], [], 0
    for e in timeline:
        if e.kind == "malformed":
            malformed.append(e)
        elif e.kind == "connect-error":
            connect_errors.append(e)
        if is_server_packet(e.side, e.layer, e.kind) and e.ts_ns > last:
            last = e.ts_ns
    return TimelineDigest(tuple(malformed), tuple(connect_errors), last)


@dataclass(frozen=True, slots=True)
class Heartbeat:
    """A ping and its pong (v4: server pings; v3: client pings)."""

    pinger: Side
    ping_ns: int
    pong_ns: int | None
    ping_acked_ns: int | None = None  # TCP ACK of the ping by the pongers's host (pcap only)

    @property
    def answered(self) -> bool:
        return self.pong_ns is not None


@dataclass(frozen=True, slots=True)
class Evidence:
    """One concrete observation behind a verdict, pointing into the timeline."""

    text: str
    ts_ns: int | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """How something ended: each side's reason (library words, verbatim), and why."""

    server_reason: str | None = None
    client_reason: str | None = None
    cause: str | None = None
    confidence: float = 0.0
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class NamespaceSocket:
    nsp: str
    id: str | None  # socket id from the CONNECT ack (v5), or derived from the sid (v4)
    connected_ns: int | None
    disconnected_ns: int | None
    connect_error: str | None = None
    disconnect_packet_from: Side | None = None  # who sent a DISCONNECT for this namespace
    pid: str | None = None  # connection-state recovery private id
    recovered_from: str | None = None  # pid offered in the client's CONNECT
    auth: Any = None  # the CONNECT's JSON payload
    verdict: Verdict = field(default_factory=Verdict)
    requested_ns: int | None = None  # when the client's CONNECT for this namespace was sent


@dataclass(frozen=True, slots=True)
class EngineClose:
    """An Engine.IO close packet (`1`) or a WebSocket close frame, by side."""

    side: Side
    ts_ns: int
    via: str  # "eio-close-packet" | "ws-close-frame"
    code: int | None = None  # ws close code (None = no body: peer reports 1005)
    reason: str = ""
    conn: int | None = None
    acked_ns: int | None = None  # when the peer's host acknowledged it (pcap only)
    ackable: bool = False  # its TCP acknowledgement can be seen (pcap, known stream offset)
    refused: bool = False  # sent in a polling request the server answered with an error


@dataclass(frozen=True, slots=True)
class HttpFailure:
    """A polling or upgrade request of this session that failed or never got an answer."""

    ts_ns: int
    method: str
    transport: str
    status: int | None  # None: no response (aborted)
    code: int | None  # engine.io error code from the body
    message: str
    abort: str | None = None


@dataclass(frozen=True, slots=True)
class ConnFacts:
    """A TCP connection the session used, and how it ended (pcap only)."""

    conn: int
    transport: str  # "polling" | "websocket"
    opened_ns: int
    ended_ns: int | None
    end: str | None  # TcpEnd name
    conn_state: str | None
    first_fin: Side | None
    first_rst: Side | None
    retransmissions: dict[Side, int] = field(default_factory=dict)
    fin_ns: int | None = None  # first FIN
    rst_ns: int | None = None  # first RST


@dataclass(frozen=True, slots=True)
class Session:
    """One Engine.IO session (one sid) across its polling requests and websocket."""

    sid: str
    eio: int | None
    client: Endpoint | None
    server: Endpoint | None
    transports: tuple[str, ...]
    opened_ns: int
    last_seen_ns: int  # last packet of this session either way
    closed_ns: int | None  # when the session observably ended; None = open at capture end
    upgraded_ns: int | None
    ping_interval_ms: int | None
    ping_timeout_ms: int | None
    max_payload: int | None
    sockets: tuple[NamespaceSocket, ...]
    heartbeats: Sequence[Heartbeat]  # these three: tuples, or `Spilled` (read from disk)
    closes: tuple[EngineClose, ...]
    http_failures: tuple[HttpFailure, ...]
    connections: Sequence[ConnFacts]
    timeline: Sequence[TimelineEvent]
    user_agent: str | None = None
    previous_sid: str | None = None
    open_at_capture_end: bool = False
    upgrade_failed: bool = False
    handshake_seen: bool = True  # False: the capture started after the handshake
    ws_conn: int | None = None  # the websocket connection the session ran on (or probed)
    query: tuple[tuple[str, str], ...] = ()  # the handshake's query, minus Engine.IO's own params
    server_software: str | None = None  # the handshake response's Server header
    verdict: Verdict = field(default_factory=Verdict)
    digest: TimelineDigest | None = None  # None: not gathered (see `timeline_digest`)


def timeline_digest(session: Session) -> TimelineDigest:
    """The session's digest: as the builder gathered it, or read off its timeline."""
    return session.digest if session.digest is not None else digest_of(session.timeline)


@dataclass(frozen=True, slots=True)
class Finding:
    """Something wrong at capture level, naming the sessions it touches."""

    kind: str  # a root-cause slug
    count: int
    sessions: tuple[str, ...]
    evidence: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything sioscope learned from one capture."""

    info: CaptureInfo
    sessions: tuple[Session, ...]
    findings: tuple[Finding, ...]
    diagnostics: tuple[Diagnostic, ...]
    tls_connections: int = 0

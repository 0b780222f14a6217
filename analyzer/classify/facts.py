"""What a session's end looked like on the wire, gathered once for the decision rules.

Everything here is read off a finished `Session`: who sent the first close frame, close
packet, FIN or RST on the transport that carried the session; which HTTP requests failed;
which namespace DISCONNECT packets went which way; and when each side's heartbeat timer
would have fired.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields

from analyzer.classify.flavor import Flavors, flavors_of
from analyzer.core import NS_PER_S, Side
from analyzer.model import EngineClose, Heartbeat, Layer, Session, TimelineEvent, timeline_digest

TIMER_SLACK_NS = 250_000_000  # how far from a timer's expiry an action still counts as that timer
FIRING_SLACK_NS = 50_000_000  # a timer due this long before the capture's end did fire
DEFAULT_INTERVAL_MS = 25_000
DEFAULT_TIMEOUT_MS = 20_000


@dataclass(frozen=True, slots=True)
class Act:
    """One thing a side did that ends a transport: a close frame, a close packet, a FIN,
    a RST, an aborted request, or (server only) an HTTP error answer."""

    side: Side
    ts_ns: int
    kind: str  # close-frame | close-packet | fin | rst | abort | http-error
    code: int | None = None
    text: str = ""
    conn: int | None = None
    arrived_ns: int | None = -1  # when it reached the peer's host; None: never; -1: unknown

    @property
    def arrival(self) -> int | None:
        """When the peer could have seen it (None: it never arrived)."""
        return self.ts_ns if self.arrived_ns == -1 else self.arrived_ns


@dataclass(frozen=True, slots=True)
class Observed:
    """What a session shows on its own, without the capture around it: it can be read as
    soon as the session ends, while the rest of the capture is still decoded."""

    active: str  # the transport the session ended on: "websocket" or "polling"
    acts: tuple[Act, ...]  # sorted by time
    server_expiry_ns: int | None  # when the server's heartbeat timer fires (None: never armed)
    client_expiry_ns: int | None
    unanswered: Heartbeat | None  # the first ping never answered
    last_answered: Heartbeat | None
    malformed: tuple[TimelineEvent, ...]
    connect_errors: tuple[TimelineEvent, ...]  # namespace CONNECT_ERROR packets, in order
    interval_ns: int
    timeout_ns: int
    flavors: Flavors  # which library each side runs


@dataclass(frozen=True, slots=True)
class SessionFacts(Observed):
    """`Observed`, with the session and the capture around it."""

    session: Session
    capture_end_ns: int
    har: bool = False  # no TCP, no close frames, only the messages the browser handled

    def first(self, side: Side, after_ns: int = 0) -> Act | None:
        return next((a for a in self.acts if a.side is side and a.ts_ns >= after_ns), None)

    def delivered(self, act: Act) -> bool:
        return act.arrival is not None


def gather(
    session: Session,
    capture_end_ns: int,
    har: bool = False,
    next_open_ns: int | None = None,
    observed: Observed | None = None,
) -> SessionFacts:
    """`next_open_ns`: when the same client opened its next session, if it did;
    `observed`: `observe(session)`, if it was read already."""
    seen = observed or observe(session)
    facts = {f.name: getattr(seen, f.name) for f in fields(Observed)}
    if har and not seen.acts:
        facts["acts"] = tuple(_inferred_end(session, seen.client_expiry_ns, next_open_ns))
    return SessionFacts(**facts, session=session, capture_end_ns=capture_end_ns, har=har)


def observe(session: Session) -> Observed:
    """The facts of `gather` that depend on the session alone."""
    interval_ns = (session.ping_interval_ms or DEFAULT_INTERVAL_MS) * 1_000_000
    timeout_ns = (session.ping_timeout_ms or DEFAULT_TIMEOUT_MS) * 1_000_000
    on_ws = session.upgraded_ns is not None or session.transports == ("websocket",)
    active = "websocket" if on_ws else "polling"
    acts = sorted(_acts(session, active), key=lambda a: a.ts_ns)
    pings = sorted(session.heartbeats, key=lambda h: h.ping_ns)
    pinger = Side.CLIENT if session.eio == 3 else Side.SERVER
    mine = [h for h in pings if h.pinger is pinger]
    answered = [h for h in mine if h.answered]
    last_answered = answered[-1] if answered else None
    after = last_answered.ping_ns if last_answered else 0
    unanswered = next((h for h in mine if not h.answered and h.ping_ns > after), None)
    server_expiry, client_expiry = _expiries(
        session, pinger, last_answered, unanswered, interval_ns, timeout_ns
    )
    digest = timeline_digest(session)  # the timeline itself is not read back here
    return Observed(
        active,
        tuple(acts),
        server_expiry,
        client_expiry,
        unanswered,
        last_answered,
        digest.malformed,
        digest.connect_errors,
        interval_ns,
        timeout_ns,
        flavors_of(session),
    )


def _expiries(
    session: Session,
    pinger: Side,
    last_answered: Heartbeat | None,
    unanswered: Heartbeat | None,
    interval_ns: int,
    timeout_ns: int,
) -> tuple[int | None, int | None]:
    """When each side's heartbeat timer fires, from the protocol's own formulas.

    EIO 4: the server waits pingTimeout for each pong; the client expects a ping within
    pingInterval + pingTimeout of the last one it handled (its pong's time).
    EIO 3: the client pings and waits pingTimeout for the pong; the server expects a ping
    within pingInterval + pingTimeout of the last one.
    """
    handled = last_answered.pong_ns if last_answered and last_answered.pong_ns else None
    if pinger is Side.SERVER:
        server = unanswered.ping_ns + timeout_ns if unanswered else None
        if server is None and session.upgraded_ns is None and session.transports == ("polling",):
            # On polling the ping waits, invisible, for the client's next GET; the server's
            # timer runs all the same: pingInterval after the last pong, then pingTimeout.
            server = (handled or session.opened_ns) + interval_ns + timeout_ns
        client = (handled or session.opened_ns) + interval_ns + timeout_ns
        return server, client
    client_v3 = unanswered.ping_ns + timeout_ns if unanswered else None
    received = last_answered.ping_ns if last_answered else session.opened_ns  # it answered it
    server_v3 = received + interval_ns + timeout_ns
    return server_v3, client_v3


def _acts(session: Session, active: str) -> list[Act]:
    acts: list[Act] = []
    carried = session.ws_conn if active == "websocket" else None
    for close in session.closes:
        arrived = _arrival(close)
        if close.via == "ws-close-frame":
            if close.conn == carried:
                acts.append(
                    Act(
                        close.side,
                        close.ts_ns,
                        "close-frame",
                        close.code,
                        close.reason,
                        close.conn,
                        arrived,
                    )
                )
        else:
            acts.append(
                Act(close.side, close.ts_ns, "close-packet", conn=close.conn, arrived_ns=arrived)
            )
    # A polling session carries nothing: its many connections need not be read at all.
    for conn in session.connections if carried is not None else ():
        if conn.conn != carried:
            continue
        if conn.first_fin is not None and conn.fin_ns is not None:
            acts.append(Act(conn.first_fin, conn.fin_ns, "fin", conn=conn.conn))
        if conn.first_rst is not None and conn.rst_ns is not None:
            acts.append(Act(conn.first_rst, conn.rst_ns, "rst", conn=conn.conn))
    upgraded = session.upgraded_ns
    lived_on: Callable[[int], bool] | None = None  # a scan of the timeline: only if needed
    for failure in session.http_failures:
        if upgraded is not None and failure.ts_ns > upgraded and failure.transport == "polling":
            continue
        lived_on = lived_on or _session_lived_on(session)
        if lived_on(failure.ts_ns):
            continue  # the session went on exchanging packets: this request did not end it
        if failure.status is None:
            side = Side.SERVER if failure.abort == "server-closed" else Side.CLIENT
            acts.append(
                Act(side, failure.ts_ns, "abort", text=f"{failure.method} {failure.message}")
            )
        else:
            acts.append(
                Act(
                    Side.SERVER,
                    failure.ts_ns,
                    "http-error",
                    failure.status,
                    f"{failure.method} {failure.status} {failure.message}".strip(),
                )
            )
            if failure.code is not None:
                acts[-1] = Act(
                    Side.SERVER,
                    failure.ts_ns,
                    "http-error",
                    failure.status,
                    f"{failure.method} answered {failure.status} code {failure.code} "
                    f"{failure.message!r}",
                )
    return acts


def _session_lived_on(session: Session) -> Callable[[int], bool]:
    """Whether the server still sent Engine.IO packets a whole ping interval after a moment:
    no session keeps exchanging packets that long after its end."""
    last = timeline_digest(session).last_server_packet_ns
    interval = (session.ping_interval_ms or DEFAULT_INTERVAL_MS) * 1_000_000
    return lambda ts_ns: last > ts_ns + interval


def _inferred_end(
    session: Session, client_expiry: int | None, next_open_ns: int | None
) -> list[Act]:
    """An end the capture implies without showing it (a HAR has no close frames).

    After its last namespace DISCONNECT a client closes the connection at once; and a
    client that opened a new session had dropped the old one by then, at the latest when
    its heartbeat timer fired.
    """
    packets = disconnect_packets(session)
    connected = {s.nsp for s in session.sockets if s.connected_ns is not None}
    if packets and connected <= {nsp for nsp, _, _ in packets}:
        _, side, ts = max(packets, key=lambda p: p[2])
        return [Act(side, ts, "ended")]
    if next_open_ns is not None:
        when = min(next_open_ns, client_expiry) if client_expiry is not None else next_open_ns
        return [Act(Side.CLIENT, when, "ended")]
    return []


def _arrival(close: EngineClose) -> int | None:
    """-1 when the capture cannot tell (HAR, or a request body), None when it never arrived."""
    if close.refused:
        return None
    if close.ackable:
        return close.acked_ns
    return -1


def fired_before(expiry_ns: int | None, end_ns: int) -> bool:
    """Whether a timer due at `expiry_ns` fired before `end_ns` (node timers run on time
    unless the event loop is blocked)."""
    return expiry_ns is not None and expiry_ns + FIRING_SLACK_NS < end_ns


def disconnect_packets(session: Session) -> list[tuple[str, Side, int]]:
    """(nsp, sender, time) of every namespace DISCONNECT packet."""
    return [
        (sock.nsp, sock.disconnect_packet_from, sock.disconnected_ns)
        for sock in session.sockets
        if sock.disconnect_packet_from is not None and sock.disconnected_ns is not None
    ]


def events(session: Session, kind: str, side: Side | None = None) -> list[TimelineEvent]:
    return [e for e in session.timeline if e.kind == kind and (side is None or e.side is side)]


def seconds(ns: int) -> str:
    return f"{ns / NS_PER_S:.3f} s"


def is_layer(event: TimelineEvent, layer: Layer) -> bool:
    return event.layer is layer

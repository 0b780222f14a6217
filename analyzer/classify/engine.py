"""Engine.IO level: what ended a session for each side, and the root cause.

The rules follow the protocol and the timing of the network, not any one capture: find the
first thing each side did to end the transport, compare it with the moment each side's
heartbeat timer fires, and with what the other side sent just before (DISCONNECT packets,
malformed packets, HTTP errors, close codes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from analyzer.classify.facts import (
    TIMER_SLACK_NS,
    Act,
    SessionFacts,
    disconnect_packets,
    fired_before,
    seconds,
)
from analyzer.core import Side
from analyzer.model import Evidence, Layer
from analyzer.reasons import Cause, Outcome

RECENT_NS = 2_000_000_000  # how close a DISCONNECT or an error must be to explain a close
CLOSE_CODE_CAUSES = {
    1009: Cause.PAYLOAD_TOO_LARGE,
    1002: Cause.PROTOCOL_ERROR,
    1007: Cause.PROTOCOL_ERROR,
}


@dataclass(slots=True)
class EngineEnd:
    """The decision for one session, before words are chosen for each side."""

    server: Outcome | None = None
    client: Outcome | None = None
    cause: Cause = Cause.UNKNOWN
    confidence: float = 0.5
    initiator: Side | None = None
    first_server: Act | None = None
    first_client: Act | None = None
    evidence: list[Evidence] = field(default_factory=list)

    def say(self, text: str, ts_ns: int | None = None) -> None:
        self.evidence.append(Evidence(text, ts_ns))


def decide(facts: SessionFacts) -> EngineEnd:
    end = EngineEnd(first_server=facts.first(Side.SERVER), first_client=facts.first(Side.CLIENT))
    c, s = end.first_client, end.first_server
    if c is None and s is None:
        _no_close(facts, end)
    elif s is None or (c is not None and c.ts_ns <= s.ts_ns):
        assert c is not None
        _client_first(facts, end, c)
    else:
        _server_first(facts, end, s)
    return end


# -- nobody closed ------------------------------------------------------------------------


def _no_close(facts: SessionFacts, end: EngineEnd) -> None:
    cap = facts.capture_end_ns
    server_fired = facts.server_expiry_ns is not None and fired_before(facts.server_expiry_ns, cap)
    client_fired = facts.client_expiry_ns is not None and fired_before(facts.client_expiry_ns, cap)
    if not (server_fired or client_fired):
        end.cause, end.confidence = Cause.CAPTURE_ENDED, 0.9
        end.say("the session was still open when the capture ended", cap)
        return
    if server_fired:
        end.server = Outcome.PING_TIMEOUT
        _ping_unanswered(facts, end)
    if client_fired:
        end.client = Outcome.PING_TIMEOUT
        end.say(
            f"the client's heartbeat timer expired at {seconds(facts.client_expiry_ns or 0)} "
            "after the last ping it handled",
            facts.client_expiry_ns,
        )
    end.cause = _silence_cause(facts, end)
    end.confidence = 0.7


def _ping_unanswered(facts: SessionFacts, end: EngineEnd) -> None:
    ping = facts.unanswered
    if ping is None:
        return
    timeout = facts.timeout_ns
    end.say(
        f"{ping.pinger.value} ping never answered; pingTimeout is {seconds(timeout)}", ping.ping_ns
    )
    if ping.ping_acked_ns is not None:
        end.say(
            "the ping reached the peer's host (TCP ACK) but no pong came back", ping.ping_acked_ns
        )
        return
    resent = [
        e
        for e in facts.session.timeline
        if e.kind == "retransmission" and e.side is ping.pinger and e.ts_ns >= ping.ping_ns
    ]
    if resent:
        end.say(
            f"the {ping.pinger.value} retransmitted {len(resent)} times after that ping and the "
            "peer's host never acknowledged it: packets stopped getting through",
            resent[0].ts_ns,
        )


def _silence_cause(facts: SessionFacts, end: EngineEnd) -> Cause:
    ping = facts.unanswered
    if ping is not None and ping.ping_acked_ns is not None:
        return Cause.CLIENT_STALLED
    if end.client is Outcome.PING_TIMEOUT and _server_went_quiet(facts):
        return Cause.SERVER_STALLED
    return Cause.NETWORK_LOSS


def _server_went_quiet(facts: SessionFacts) -> bool:
    """No server ping was even sent in the window the client waited in (EIO 4). A HAR
    shows only the pings that arrived, so it cannot tell."""
    if facts.session.eio == 3 or facts.client_expiry_ns is None or facts.har:
        return False
    start = facts.client_expiry_ns - facts.interval_ns - facts.timeout_ns
    pings = [h.ping_ns for h in facts.session.heartbeats if h.pinger is Side.SERVER]
    return not any(start < t <= facts.client_expiry_ns + TIMER_SLACK_NS for t in pings)


# -- the client acted first -----------------------------------------------------------------


def _client_first(facts: SessionFacts, end: EngineEnd, act: Act) -> None:
    end.initiator = Side.CLIENT
    end.client, end.cause, end.confidence = _client_own_reason(facts, end, act)
    end.server = _server_receives(facts, end, act)
    if facts.har and end.cause is Cause.NETWORK_LOSS:
        # The client's timer fired because the server's pings stopped arriving: the path
        # was down, so its close did not arrive either and the server's timer fired too.
        end.server = Outcome.PING_TIMEOUT
        end.say("the server's pings stopped arriving, so its own heartbeat timed out as well")
    # socket.disconnect(true) closes the engine right after the DISCONNECT; only its close
    # frame (or polling close packet) waits, so the client's close can reach the wire first.
    # On polling the client's close shows who won: accepted, the server saw it; refused (the
    # session id already unknown), the server had closed first.
    won = facts.active == "websocket" or act.arrival is None
    if end.cause is Cause.SERVER_DISCONNECT and won and not _python_server(facts):
        end.server = Outcome.SELF_CLOSED


def _python_server(facts: SessionFacts) -> bool:
    return facts.flavors.python_server


def _client_own_reason(
    facts: SessionFacts, end: EngineEnd, act: Act
) -> tuple[Outcome | None, Cause, float]:
    left = _namespaces_left(facts, Side.CLIENT, act.ts_ns)
    if left:
        end.say(f"client sent DISCONNECT for {', '.join(left)} before closing", act.ts_ns)
        return Outcome.SELF_CLOSED, Cause.CLIENT_DISCONNECT, 0.95
    kicked = _namespaces_left(facts, Side.SERVER, act.ts_ns)
    if kicked:
        end.say(
            f"server sent DISCONNECT for {', '.join(kicked)}; the client then closed its "
            "connection itself (it does not reconnect after a server disconnect)",
            act.ts_ns,
        )
        return Outcome.SELF_CLOSED, Cause.SERVER_DISCONNECT, 0.95
    rejected = _connect_error_before(facts, act.ts_ns)
    if rejected is not None:
        end.say(
            f"server refused the namespace connection ({rejected}); the client then closed",
            act.ts_ns,
        )
        return Outcome.SELF_CLOSED, Cause.AUTH_REJECTED, 0.9
    expiry = facts.client_expiry_ns
    if expiry is not None and act.ts_ns >= expiry - TIMER_SLACK_NS:
        waited = act.ts_ns - expiry + facts.interval_ns + facts.timeout_ns
        end.say(
            f"client closed {_describe(act)} {seconds(waited)} after the last ping it handled "
            "= pingInterval + pingTimeout",
            act.ts_ns,
        )
        cause = Cause.SERVER_STALLED if _server_went_quiet(facts) else Cause.NETWORK_LOSS
        if cause is Cause.SERVER_STALLED:
            end.say("the server sent no ping in that window: its event loop was blocked", expiry)
        return Outcome.PING_TIMEOUT, cause, 0.85
    if act.kind == "ended":
        end.say(
            "the client had dropped this session before its heartbeat timer fired (it opened a "
            "new one); the capture holds no close, so the page or process went away",
            act.ts_ns,
        )
        _pongs_were_prompt(facts, end)
        return None, Cause.CLIENT_LEFT, 0.6
    if act.kind in ("fin", "rst", "abort"):
        end.say(
            f"client ended the transport with {_describe(act)}, without a close frame or "
            "close packet: the client process or page went away",
            act.ts_ns,
        )
        _pongs_were_prompt(facts, end)
        return None, Cause.CLIENT_LEFT, 0.85
    if act.kind == "close-frame" and act.code == 1001:
        end.say(
            "client close frame 1001 (going away): the page was closed or navigated away", act.ts_ns
        )
        return None, Cause.CLIENT_LEFT, 0.9
    end.say(
        f"client library closed the transport ({_describe(act)}) without a namespace DISCONNECT",
        act.ts_ns,
    )
    return Outcome.SELF_CLOSED, Cause.CLIENT_DISCONNECT, 0.6


def _server_receives(facts: SessionFacts, end: EngineEnd, act: Act) -> Outcome | None:
    expiry = facts.server_expiry_ns
    arrival = act.arrival
    late = arrival is None or (expiry is not None and expiry < arrival - TIMER_SLACK_NS)
    if late and fired_before(expiry, facts.capture_end_ns):
        _ping_unanswered(facts, end)
        if arrival is None:
            end.say(f"the client's close ({_describe(act)}) never reached the server", act.ts_ns)
        else:
            end.say(
                f"the client's close reached the server only {seconds(arrival - act.ts_ns)} "
                "later, after the server had timed out",
                arrival,
            )
        return Outcome.PING_TIMEOUT
    if arrival is None:
        return None
    if act.kind == "abort":
        end.say("the server saw its pending long-poll request closed before it answered", act.ts_ns)
        return Outcome.TRANSPORT_ERROR
    if act.kind == "close-packet":
        return Outcome.PEER_CLOSE_PACKET
    return Outcome.PEER_CLOSED


def _pongs_were_prompt(facts: SessionFacts, end: EngineEnd) -> None:
    last = facts.last_answered
    if last is not None and last.pong_ns is not None:
        end.say(
            f"heartbeats were healthy: last pong {(last.pong_ns - last.ping_ns) / 1e6:.1f} ms "
            "after its ping",
            last.pong_ns,
        )


# -- the server acted first -----------------------------------------------------------------


def _server_first(facts: SessionFacts, end: EngineEnd, act: Act) -> None:
    end.initiator = Side.SERVER
    if act.kind == "http-error":
        _http_error(facts, end, act)
        return
    end.server, end.cause, end.confidence = _server_own_reason(facts, end, act)
    end.client = _client_receives(facts, end, act)


def _server_own_reason(
    facts: SessionFacts, end: EngineEnd, act: Act
) -> tuple[Outcome | None, Cause, float]:
    left = _namespaces_left(facts, Side.SERVER, act.ts_ns)
    if left:
        end.say(
            f"server sent DISCONNECT for {', '.join(left)}, then closed {_describe(act)}", act.ts_ns
        )
        return Outcome.SELF_CLOSED, Cause.SERVER_DISCONNECT, 0.95
    bad = [
        e
        for e in facts.malformed
        if e.side is Side.CLIENT and act.ts_ns - RECENT_NS <= e.ts_ns <= act.ts_ns
    ]
    if bad:
        end.say(
            f"client sent a packet that does not parse ({bad[-1].text}); the server closed "
            f"{_describe(act)}",
            bad[-1].ts_ns,
        )
        outcome = Outcome.PARSE_ERROR if bad[-1].layer is Layer.EIO else Outcome.DECODE_ERROR
        return outcome, Cause.PROTOCOL_ERROR, 0.9
    if act.kind == "close-frame" and act.code in CLOSE_CODE_CAUSES:
        end.say(f"server close frame {act.code}", act.ts_ns)
        return Outcome.TRANSPORT_ERROR, CLOSE_CODE_CAUSES[act.code], 0.9
    expiry = facts.server_expiry_ns
    if expiry is not None and abs(act.ts_ns - expiry) <= TIMER_SLACK_NS:
        _ping_unanswered(facts, end)
        end.say(f"server closed {_describe(act)} exactly pingTimeout after that ping", act.ts_ns)
        acked = facts.unanswered is not None and facts.unanswered.ping_acked_ns is not None
        return Outcome.PING_TIMEOUT, (Cause.CLIENT_STALLED if acked else Cause.NETWORK_LOSS), 0.85
    if act.kind in ("fin", "rst", "abort"):
        end.say(
            f"server side ended the transport with {_describe(act)}, without a close frame "
            "or close packet: the server process went away (or a proxy cut it)",
            act.ts_ns,
        )
        return None, Cause.SERVER_CRASH, 0.6
    end.say(
        f"server closed {_describe(act)} with no DISCONNECT, no heartbeat failure and no "
        "bad input: the server was shutting down",
        act.ts_ns,
    )
    return Outcome.SHUTDOWN, Cause.SERVER_SHUTDOWN, 0.7


def _client_receives(facts: SessionFacts, end: EngineEnd, act: Act) -> Outcome | None:
    expiry = facts.client_expiry_ns
    reaction = facts.first(Side.CLIENT, act.ts_ns)
    if expiry is not None and reaction is not None and reaction.ts_ns > expiry + TIMER_SLACK_NS:
        end.say(
            f"the client reacted only {seconds(reaction.ts_ns - act.ts_ns)} later, after its "
            "own heartbeat timer had expired: the client was frozen",
            reaction.ts_ns,
        )
        return Outcome.PING_TIMEOUT
    if not facts.delivered(act):
        end.say(f"the server's {_describe(act)} never reached the client", act.ts_ns)
        if expiry is not None and fired_before(expiry, facts.capture_end_ns):
            return Outcome.PING_TIMEOUT
        return None
    if _namespaces_left(facts, Side.SERVER, act.ts_ns):
        return Outcome.SELF_CLOSED
    if act.kind == "close-packet":
        return Outcome.PEER_CLOSE_PACKET
    if facts.active == "polling" and act.kind in ("fin", "rst", "abort"):
        return Outcome.TRANSPORT_ERROR
    return Outcome.PEER_CLOSED


def _http_error(facts: SessionFacts, end: EngineEnd, act: Act) -> None:
    """An error answer: the client reports a transport error; the server's session lives on
    (413) or was already gone (400 code 1)."""
    end.client = Outcome.TRANSPORT_ERROR
    end.say(f"server answered a polling request with HTTP {act.code}: {act.text}", act.ts_ns)
    later = facts.first(Side.CLIENT, act.ts_ns)
    if act.code == 413:
        end.cause, end.confidence = Cause.PAYLOAD_TOO_LARGE, 0.9
    elif "code 1 " in act.text:
        end.cause, end.confidence = Cause.SESSION_UNKNOWN, 0.8
        end.say(
            "the session id was unknown to the server that answered: the session had ended "
            "there, or the request reached another server (no sticky sessions)",
            act.ts_ns,
        )
    else:
        end.cause, end.confidence = Cause.PROTOCOL_ERROR, 0.6
    # The server that holds the session learns of the end only from what reaches it later.
    if later is not None:
        end.server = _server_receives(facts, end, later)
    elif _server_timer_fired(facts):
        _ping_unanswered(facts, end)
        end.server = Outcome.PING_TIMEOUT


def _server_timer_fired(facts: SessionFacts) -> bool:
    expiry = facts.server_expiry_ns
    return expiry is not None and fired_before(expiry, facts.capture_end_ns)


# -- shared ---------------------------------------------------------------------------------


def _namespaces_left(facts: SessionFacts, sender: Side, before_ns: int) -> list[str]:
    """Namespaces `sender` disconnected shortly before `before_ns`, when none stayed open."""
    packets = [
        (nsp, ts)
        for nsp, side, ts in disconnect_packets(facts.session)
        if side is sender and ts <= before_ns + 1_000_000
    ]
    if not packets or before_ns - max(ts for _, ts in packets) > RECENT_NS:
        return []
    connected = {s.nsp for s in facts.session.sockets if s.connected_ns is not None}
    left = {nsp for nsp, _ in packets}
    return sorted(left) if connected <= left | _already_gone(facts, before_ns) else []


def _already_gone(facts: SessionFacts, before_ns: int) -> set[str]:
    return {
        s.nsp
        for s in facts.session.sockets
        if s.disconnect_packet_from is not None and (s.disconnected_ns or 0) <= before_ns
    }


def _connect_error_before(facts: SessionFacts, ts_ns: int) -> str | None:
    errors = [e for e in facts.connect_errors if ts_ns - RECENT_NS <= e.ts_ns <= ts_ns]
    still_open = [
        s
        for s in facts.session.sockets
        if s.connected_ns is not None and s.disconnect_packet_from is None
    ]
    return errors[-1].text if errors and not still_open else None


def _describe(act: Act) -> str:
    if act.kind == "close-frame":
        return "with a close frame " + (
            "without code (1005)" if act.code is None else str(act.code)
        )
    return {
        "close-packet": "with an Engine.IO close packet (1)",
        "fin": "with a TCP FIN",
        "rst": "with a TCP RST",
        "ended": "(inferred: the capture holds no close)",
        "abort": f"by aborting a request ({act.text})",
        "http-error": f"with HTTP {act.code}",
    }.get(act.kind, act.kind)

"""Rules that need more than one session: proxy idle timeouts, reloads, shared stalls.

A single session cannot tell a proxy's idle cut from a crashed server (both are a FIN from
the server's side with no close frame); many sessions can: a proxy cuts each one after the
same idle time, at different moments, while the server keeps accepting new sessions.
"""

from __future__ import annotations

from dataclasses import dataclass

from analyzer.classify.engine import EngineEnd
from analyzer.classify.facts import SessionFacts, seconds
from analyzer.core import NS_PER_S, Side
from analyzer.model import Evidence, Session
from analyzer.reasons import Cause, Outcome
from analyzer.sessions import Observation

IDLE_TOLERANCE = 0.15  # relative spread of idle gaps that still counts as "the same timeout"
SIMULTANEOUS_NS = NS_PER_S  # ends this close together are one event, not a timeout each
RELOAD_NS = 3 * NS_PER_S


@dataclass(slots=True)
class Judged:
    facts: SessionFacts
    end: EngineEnd

    @property
    def session(self) -> Session:
        return self.facts.session


def idle_gap(judged: Judged) -> int | None:
    """Time from the last byte either way to the server side's close of the transport."""
    act = judged.end.first_server
    if act is None:
        return None
    before = [
        e.ts_ns
        for e in judged.session.timeline
        if e.ts_ns < act.ts_ns
        and e.side is not None
        and e.kind not in ("tcp-end", "retransmission")
    ]
    return act.ts_ns - max(before) if before else None


def proxy_timeouts(judged: list[Judged]) -> list[Judged]:
    """Sessions cut from the server's side after one shared idle time; relabels them."""
    cut = [j for j in judged if j.end.cause is Cause.SERVER_CRASH and idle_gap(j)]
    if not cut:
        return []
    gaps = sorted(idle_gap(j) or 0 for j in cut)
    median = gaps[len(gaps) // 2]
    same = [j for j in cut if abs((idle_gap(j) or 0) - median) <= IDLE_TOLERANCE * median]
    times = sorted(j.end.first_server.ts_ns for j in same if j.end.first_server)
    spread = times[-1] - times[0] if times else 0
    proxied = any(_proxy(j) for j in same)
    if not ((len(same) >= 2 and spread > SIMULTANEOUS_NS) or (proxied and len(same) >= 1)):
        return []
    for j in same:
        end = j.end
        end.cause, end.confidence = Cause.PROXY_TIMEOUT, 0.8 if len(same) >= 2 else 0.6
        end.server = Outcome.PEER_CLOSED  # the proxy closed the upstream side as well
        end.evidence = [e for e in end.evidence if "process went away" not in e.text]
        end.evidence.append(
            Evidence(
                f"closed from the server's side after {seconds(idle_gap(j) or 0)} of silence; "
                f"{len(same)} sessions were cut after the same idle time (median {seconds(median)})"
                + (f", behind {_proxy(j)}" if _proxy(j) else ""),
                j.end.first_server.ts_ns if j.end.first_server else None,
            )
        )
    return same


def _proxy(j: Judged) -> str | None:
    return j.facts.flavors.proxy


def reloads(judged: list[Judged], page_loads: list[Observation]) -> None:
    """A page that left, the same browser loading a page around that moment, and a fresh
    handshake from it right after: a reload or a navigation within the site."""
    if not page_loads:
        return  # a reload needs a page load; without any, no session was one
    for j in judged:
        act = j.end.first_client
        closed = j.session.closed_ns or (act.ts_ns if act is not None else None)
        client = j.session.client
        if j.end.cause is not Cause.CLIENT_LEFT or closed is None or client is None:
            continue
        load = next(
            (
                o
                for o in page_loads
                if o.client is not None
                and o.client.ip == client.ip
                and abs(o.ts_ns - closed) <= RELOAD_NS
            ),
            None,
        )
        if load is None:
            continue
        follower = _fresh_handshake(j, judged)  # a scan of all sessions: only after a load
        if follower is not None:
            j.end.cause = Cause.CLIENT_RELOAD
            j.end.evidence.append(Evidence(load.text, load.ts_ns))
            j.end.evidence.append(
                Evidence(
                    f"a new handshake from the same browser followed "
                    f"{seconds(follower.opened_ns - closed)} after the close (session "
                    f"{follower.sid}), without connection-state recovery",
                    follower.opened_ns,
                )
            )


def _fresh_handshake(j: Judged, judged: list[Judged]) -> Session | None:
    s = j.session
    act = j.end.first_client
    closed = s.closed_ns or (act.ts_ns if act is not None else 0)
    for other in judged:
        o = other.session
        if o is s or o.client is None or s.client is None:
            continue
        same_browser = o.client.ip == s.client.ip and o.user_agent == s.user_agent
        if (
            same_browser
            and -RELOAD_NS <= o.opened_ns - closed <= RELOAD_NS
            and not any(k.recovered_from for k in o.sockets)
        ):
            return o
    return None


def shared_stalls(judged: list[Judged]) -> list[Judged]:
    stalled = [j for j in judged if j.end.cause is Cause.SERVER_STALLED]
    if len(stalled) >= 2:
        for j in stalled:
            j.end.evidence.append(
                Evidence(f"{len(stalled)} sessions lost their server pings in the same way", None)
            )
            j.end.confidence = max(j.end.confidence, 0.9)
    return stalled


def server_side_group(judged: list[Judged], cause: Cause) -> list[Judged]:
    """Sessions the server ended for `cause` within one second of each other."""
    group = [j for j in judged if j.end.cause is cause and j.end.first_server is not None]
    if len(group) < 2:
        return group
    times = [j.end.first_server.ts_ns for j in group if j.end.first_server]
    if max(times) - min(times) <= SIMULTANEOUS_NS:
        for j in group:
            j.end.evidence.append(
                Evidence(
                    f"{len(group)} sessions were ended by the server within "
                    f"{seconds(max(times) - min(times))}",
                    min(times),
                )
            )
            j.end.confidence = max(j.end.confidence, 0.85)
    return group


__all__ = [
    "Judged",
    "Side",
    "idle_gap",
    "proxy_timeouts",
    "reloads",
    "server_side_group",
    "shared_stalls",
]

"""Reconnect chains: which earlier session a new session replaces.

A client that loses its session reconnects with a new handshake after a backoff (0.5-1.5 s
first, growing to 5 s): same address, same user agent, same application query. A client
that closed on purpose (`io client disconnect`, `io server disconnect`) does not.
"""

from __future__ import annotations

from analyzer.core import NS_PER_S
from analyzer.model import Session
from analyzer.reasons import Outcome

MAX_RECONNECT_GAP_NS = 60 * NS_PER_S
EARLY_NS = NS_PER_S // 2  # a reconnect can start while the old session's close is in flight

Fingerprint = tuple[object, ...]


def fingerprint(session: Session) -> Fingerprint:
    ip = session.client.ip if session.client else None
    return (ip, session.user_agent, session.query)


def _by_client(sessions: list[Session]) -> list[list[Session]]:
    groups: dict[Fingerprint, list[Session]] = {}
    for session in sorted(sessions, key=lambda s: s.opened_ns):
        groups.setdefault(fingerprint(session), []).append(session)
    return list(groups.values())


def next_opens(sessions: list[Session]) -> dict[str, int]:
    """sid -> when the same browser or process (address and user agent) opened a session
    after this one's last packet: by then this one had been dropped."""
    groups: dict[Fingerprint, list[Session]] = {}
    for session in sorted(sessions, key=lambda s: s.opened_ns):
        ip = session.client.ip if session.client else None
        groups.setdefault((ip, session.user_agent), []).append(session)
    nexts: dict[str, int] = {}
    for group in groups.values():
        for earlier in group:
            later = next((s for s in group if s.opened_ns >= earlier.last_seen_ns), None)
            if later is not None:
                nexts[earlier.sid] = later.opened_ns
    return nexts


def link_previous(
    sessions: list[Session],
    client_outcomes: dict[str, Outcome | None],
    ended_at: dict[str, int | None],
) -> dict[str, str]:
    """sid -> previous sid, for every session that replaces an earlier one of its client."""
    links: dict[str, str] = {}
    for group in _by_client(sessions):
        taken: set[str] = set()
        for later in group:
            earlier = _predecessor(later, group, taken, client_outcomes, ended_at)
            if earlier is not None:
                links[later.sid] = earlier.sid
                taken.add(earlier.sid)
    return links


def _predecessor(
    later: Session,
    group: list[Session],
    taken: set[str],
    client_outcomes: dict[str, Outcome | None],
    ended_at: dict[str, int | None],
) -> Session | None:
    """The latest earlier session of this client that ended in a way a client recovers
    from, shortly before `later` opened."""
    best: Session | None = None
    best_end = 0
    for earlier in group:
        if earlier is later or earlier.sid in taken or earlier.opened_ns >= later.opened_ns:
            continue
        ended = ended_at.get(earlier.sid)
        outcome = client_outcomes.get(earlier.sid)
        if ended is None or outcome is None or outcome is Outcome.SELF_CLOSED:
            continue  # still open, client gone, or closed on purpose: no reconnect
        if ended - EARLY_NS <= later.opened_ns <= ended + MAX_RECONNECT_GAP_NS and ended > best_end:
            best, best_end = earlier, ended
    return best

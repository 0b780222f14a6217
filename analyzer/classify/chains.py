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


def fingerprint(session: Session) -> tuple[object, ...]:
    ip = session.client.ip if session.client else None
    return (ip, session.user_agent, session.query)


def link_previous(
    sessions: list[Session], client_outcomes: dict[str, Outcome | None]
) -> dict[str, str]:
    """sid -> previous sid, for every session that replaces an earlier one of its client."""
    by_client: dict[tuple[object, ...], list[Session]] = {}
    for session in sorted(sessions, key=lambda s: s.opened_ns):
        by_client.setdefault(fingerprint(session), []).append(session)
    links: dict[str, str] = {}
    for group in by_client.values():
        taken: set[str] = set()
        for later in group:
            earlier = _predecessor(later, group, taken, client_outcomes)
            if earlier is not None:
                links[later.sid] = earlier.sid
                taken.add(earlier.sid)
    return links


def _predecessor(
    later: Session,
    group: list[Session],
    taken: set[str],
    client_outcomes: dict[str, Outcome | None],
) -> Session | None:
    best: Session | None = None
    for earlier in group:
        if earlier is later or earlier.sid in taken or earlier.opened_ns >= later.opened_ns:
            continue
        ended = earlier.closed_ns
        if ended is None or client_outcomes.get(earlier.sid) is None:
            continue
        if client_outcomes[earlier.sid] is Outcome.SELF_CLOSED:
            continue  # closed on purpose: the client does not reconnect
        if ended - EARLY_NS <= later.opened_ns <= ended + MAX_RECONNECT_GAP_NS and (
            best is None or ended > (best.closed_ns or 0)
        ):
            best = earlier
    return best

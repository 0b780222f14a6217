"""What the session table shows, without textual: cells, sort keys, filters, search, counts.

Kept free of widgets so the rules can be unit-tested and reused by the export of the
current view.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from analyzer import NS_PER_S, NamespaceSocket, Session

UNCLASSIFIED = "unclassified"
NONE_LABEL = "-"


@dataclass(frozen=True, slots=True)
class Column:
    """One table column: its key, header and how to sort by it."""

    key: str
    label: str
    sort_key: Callable[[Session], tuple[int, float | str]]


def _text_key(value: str | None) -> tuple[int, float | str]:
    """Missing values sort last whatever the direction of the text."""
    return (1, "") if value is None else (0, value.lower())


def _number_key(value: float | None) -> tuple[int, float | str]:
    return (1, 0.0) if value is None else (0, value)


def duration_ns(session: Session) -> int:
    """How long the session lasted; an open session counts up to its last packet."""
    end = session.closed_ns if session.closed_ns is not None else session.last_seen_ns
    return max(0, end - session.opened_ns)


COLUMNS: tuple[Column, ...] = (
    Column("sid", "sid", lambda s: _text_key(s.sid)),
    Column("client", "client", lambda s: _text_key(str(s.client) if s.client else None)),
    Column("transports", "transports", lambda s: _text_key("→".join(s.transports))),
    Column("opened", "opened (UTC)", lambda s: _number_key(s.opened_ns)),
    Column("duration", "duration", lambda s: _number_key(duration_ns(s))),
    Column("server_reason", "server reason", lambda s: _text_key(s.verdict.server_reason)),
    Column("client_reason", "client reason", lambda s: _text_key(s.verdict.client_reason)),
    Column("cause", "cause", lambda s: _text_key(s.verdict.cause)),
    Column("confidence", "conf", lambda s: _number_key(s.verdict.confidence)),
)
COLUMN_KEYS = tuple(c.key for c in COLUMNS)


def clock(ts_ns: int) -> str:
    """Wall-clock time in UTC so every terminal (and every snapshot) shows the same text."""
    moment = datetime.fromtimestamp(ts_ns / NS_PER_S, tz=UTC)
    return moment.strftime("%H:%M:%S.") + f"{moment.microsecond // 1000:03d}"


def format_duration(ns: int) -> str:
    seconds = ns / NS_PER_S
    if seconds < 60:
        return f"{seconds:.3f}s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)}m{rest:06.3f}s"


def session_cells(session: Session) -> tuple[str, ...]:
    """The row of the session table, in COLUMNS order."""
    verdict = session.verdict
    duration = format_duration(duration_ns(session))
    if session.open_at_capture_end:
        duration = "≥" + duration
    return (
        session.sid,
        str(session.client) if session.client else NONE_LABEL,
        "→".join(session.transports) or NONE_LABEL,
        clock(session.opened_ns),
        duration,
        verdict.server_reason or NONE_LABEL,
        verdict.client_reason or NONE_LABEL,
        verdict.cause or UNCLASSIFIED,
        f"{verdict.confidence:.2f}",
    )


def _all_verdicts(session: Session) -> Iterable[tuple[str | None, str | None]]:
    yield session.verdict.server_reason, session.verdict.client_reason
    for sock in session.sockets:
        yield sock.verdict.server_reason, sock.verdict.client_reason


def reasons_of(session: Session) -> set[str]:
    """Every library reason either side gave, for the session and its namespace sockets."""
    return {r for pair in _all_verdicts(session) for r in pair if r}


def namespaces_of(session: Session) -> set[str]:
    return {sock.nsp for sock in session.sockets}


def cause_of(session: Session) -> str:
    return session.verdict.cause or UNCLASSIFIED


def _socket_words(sock: NamespaceSocket) -> Iterable[str | None]:
    yield sock.nsp
    yield sock.id
    yield sock.connect_error
    yield sock.verdict.cause


def search_text(session: Session) -> str:
    """Everything `/` search looks into, lower-cased once."""
    verdict = session.verdict
    words: list[str | None] = [
        session.sid,
        str(session.client) if session.client else None,
        str(session.server) if session.server else None,
        " ".join(session.transports),
        session.user_agent,
        session.previous_sid,
        cause_of(session),
        *reasons_of(session),
        *(e.text for e in verdict.evidence),
    ]
    for sock in session.sockets:
        words.extend(_socket_words(sock))
    return "\n".join(w for w in words if w).lower()


@dataclass(frozen=True, slots=True)
class SessionFilter:
    """The table's filters; None means "any"."""

    reason: str | None = None
    cause: str | None = None
    transport: str | None = None
    namespace: str | None = None
    search: str = ""

    @property
    def active(self) -> bool:
        return any((self.reason, self.cause, self.transport, self.namespace, self.search))

    def matches(self, session: Session, text_of: Callable[[Session], str] | None = None) -> bool:
        if self.reason is not None and self.reason not in reasons_of(session):
            return False
        if self.cause is not None and self.cause != cause_of(session):
            return False
        if self.transport is not None and self.transport not in session.transports:
            return False
        if self.namespace is not None and self.namespace not in namespaces_of(session):
            return False
        needle = self.search.strip().lower()
        return not needle or needle in (text_of or search_text)(session)


@dataclass(frozen=True, slots=True)
class SortOrder:
    column: str = "opened"
    reverse: bool = False

    def toggled(self, column: str) -> SortOrder:
        """Sorting by the same column again flips the direction."""
        if column == self.column:
            return SortOrder(column, not self.reverse)
        return SortOrder(column, False)

    def next_column(self) -> SortOrder:
        index = COLUMN_KEYS.index(self.column) if self.column in COLUMN_KEYS else -1
        return SortOrder(COLUMN_KEYS[(index + 1) % len(COLUMN_KEYS)], self.reverse)


def sort_sessions(sessions: Iterable[Session], order: SortOrder) -> list[Session]:
    """Stable sort with missing values last in both directions."""
    column = next((c for c in COLUMNS if c.key == order.column), COLUMNS[3])
    present: list[Session] = []
    missing: list[Session] = []
    for s in sessions:
        (present if column.sort_key(s)[0] == 0 else missing).append(s)
    present.sort(key=column.sort_key, reverse=order.reverse)
    return present + missing


def visible_sessions(
    sessions: Sequence[Session],
    flt: SessionFilter,
    order: SortOrder,
    text_of: Callable[[Session], str] | None = None,
) -> list[Session]:
    return sort_sessions((s for s in sessions if flt.matches(s, text_of)), order)


class SearchCache:
    """Each session's search text, built once: `/` re-filters on every keystroke."""

    def __init__(self) -> None:
        # keyed by id(); the session is kept alongside so its id cannot be reused
        self._texts: dict[int, tuple[Session, str]] = {}

    def text(self, session: Session) -> str:
        cached = self._texts.get(id(session))
        if cached is None:
            cached = (session, search_text(session))
            self._texts[id(session)] = cached
        return cached[1]


def cause_counts(sessions: Iterable[Session]) -> Counter[str]:
    return Counter(cause_of(s) for s in sessions)


@dataclass(frozen=True, slots=True)
class FilterChoices:
    """The values each filter can take, gathered from the sessions seen so far."""

    reasons: tuple[str, ...] = ()
    causes: tuple[str, ...] = ()
    transports: tuple[str, ...] = ()
    namespaces: tuple[str, ...] = ()


def filter_choices(sessions: Iterable[Session]) -> FilterChoices:
    stats = ViewStats()
    stats.add(sessions)
    return stats.choices()


class ViewStats:
    """Counts by cause and the filters' choices, kept up to date batch by batch.

    Recomputing them over every session on each batch would make loading quadratic.
    """

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.total = 0
        self._reasons: set[str] = set()
        self._transports: set[str] = set()
        self._namespaces: set[str] = set()

    def add(self, sessions: Iterable[Session]) -> None:
        for s in sessions:
            self.total += 1
            self.counts[cause_of(s)] += 1
            self._reasons |= reasons_of(s)
            self._transports.update(s.transports)
            self._namespaces |= namespaces_of(s)

    def choices(self) -> FilterChoices:
        return FilterChoices(
            tuple(sorted(self._reasons)),
            tuple(sorted(self.counts)),
            tuple(sorted(self._transports)),
            tuple(sorted(self._namespaces)),
        )


class SessionIndex:
    """Looks sessions up by sid and follows reconnect chains both ways."""

    def __init__(self, sessions: Iterable[Session] = ()) -> None:
        self._by_sid: dict[str, Session] = {}
        self._next_sid: dict[str, str] = {}
        self.extend(sessions)

    def extend(self, sessions: Iterable[Session]) -> None:
        for s in sessions:
            self._by_sid[s.sid] = s
            if s.previous_sid:
                self._next_sid.setdefault(s.previous_sid, s.sid)

    def get(self, sid: str | None) -> Session | None:
        return self._by_sid.get(sid) if sid else None

    def previous(self, session: Session) -> Session | None:
        return self.get(session.previous_sid)

    def next(self, session: Session) -> Session | None:
        return self.get(self._next_sid.get(session.sid))

    def chain(self, session: Session, limit: int = 50) -> list[Session]:
        """The reconnect chain through this session, oldest first (bounded against loops)."""
        before: list[Session] = []
        seen = {session.sid}
        cur = self.previous(session)
        while cur is not None and cur.sid not in seen and len(before) < limit:
            before.append(cur)
            seen.add(cur.sid)
            cur = self.previous(cur)
        after: list[Session] = []
        cur = self.next(session)
        while cur is not None and cur.sid not in seen and len(after) < limit:
            after.append(cur)
            seen.add(cur.sid)
            cur = self.next(cur)
        return [*reversed(before), session, *after]

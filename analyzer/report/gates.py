"""CI gates: `--fail-on` and `--max-share`, evaluated on the report tables.

A gate trips (exit 1) when a session or one of its sockets ended with a listed reason or
cause, or when a cause's share of all sessions (every capture together) exceeds its limit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from analyzer.errors import UsageError
from analyzer.reasons import UNCLASSIFIED

if TYPE_CHECKING:  # pandas only once tables exist: parsing the gates must stay light
    import pandas as pd

    from analyzer.report.tables import ReportTables

MATCHED_COLUMNS = ("server_reason", "client_reason", "cause")
# Design §3: the libraries' reason strings and our cause slugs. Only used to warn about
# --fail-on terms that match nothing (typos); new slugs found in the data are accepted too.
KNOWN_TERMS = frozenset(
    {
        "ping timeout",
        "transport close",
        "transport error",
        "parse error",
        "forced close",
        "server shutting down",
        "client namespace disconnect",
        "server namespace disconnect",
        "io server disconnect",
        "io client disconnect",
        "forced server close",
        "client-disconnect",
        "server-disconnect",
        "client-left",
        "client-reload",
        "network-loss",
        "client-stalled",
        "server-stalled",
        "server-shutdown",
        "server-crash",
        "proxy-timeout",
        "session-unknown",
        "upgrade-failed",
        "payload-too-large",
        "protocol-error",
        "protocol-mismatch",
        "auth-rejected",
        "capture-ended",
        "unknown",
        UNCLASSIFIED,
    }
)
BENIGN_CAUSES = frozenset(
    {"client-disconnect", "server-disconnect", "client-reload", "capture-ended"}
)


@dataclass(frozen=True, slots=True)
class ShareLimit:
    cause: str
    limit: float  # a fraction of all sessions, 0..1


@dataclass(frozen=True, slots=True)
class Gates:
    """What the command line asked to fail on."""

    fail_on: tuple[str, ...] = ()
    max_share: tuple[ShareLimit, ...] = ()

    @property
    def active(self) -> bool:
        return bool(self.fail_on or self.max_share)


@dataclass(frozen=True, slots=True)
class ShareCheck:
    cause: str
    limit: float
    sessions: int
    share: float

    @property
    def tripped(self) -> bool:
        return self.share > self.limit

    def describe(self) -> str:
        verb = "exceeds" if self.tripped else "within"
        return (
            f"cause {self.cause}: {self.sessions} session{'' if self.sessions == 1 else 's'}, "
            f"{self.share:.1%} of all, "
            f"{verb} the limit {self.limit:.1%}"
        )


@dataclass(frozen=True, slots=True)
class GateResult:
    """Which sessions failed `--fail-on`, and every `--max-share` check."""

    gates: Gates
    failing: frozenset[tuple[str, str]]  # (capture, sid)
    shares: tuple[ShareCheck, ...]

    @property
    def tripped(self) -> bool:
        return bool(self.failing) or any(c.tripped for c in self.shares)

    def is_failing(self, capture: str, sid: str) -> bool:
        return (capture, sid) in self.failing

    def messages(self) -> list[str]:
        """One line per tripped gate, for stderr and the summaries."""
        lines = []
        if self.failing:
            terms = ", ".join(self.gates.fail_on)
            n = len(self.failing)
            lines.append(f"{n} session{'' if n == 1 else 's'} ended with --fail-on {terms}")
        lines.extend(c.describe() for c in self.shares if c.tripped)
        return lines


def parse_fail_on(values: Iterable[str]) -> tuple[str, ...]:
    """`--fail-on "ping timeout,proxy-timeout"` (repeatable) -> the terms, in order, once."""
    terms = [t.strip() for value in values for t in value.split(",")]
    if any(not t for t in terms):
        raise UsageError("--fail-on: empty reason or cause in the list")
    return tuple(dict.fromkeys(terms))


def parse_max_share(values: Iterable[str]) -> tuple[ShareLimit, ...]:
    """`--max-share proxy-timeout=0.05` or `=5%` (repeatable, comma-separated)."""
    limits = []
    for value in values:
        for item in value.split(","):
            cause, sep, number = item.partition("=")
            if not sep or not cause.strip():
                raise UsageError(f"--max-share {item!r}: expected CAUSE=FRACTION")
            limits.append(ShareLimit(cause.strip(), _fraction(number.strip(), item)))
    return tuple(limits)


def _fraction(text: str, item: str) -> float:
    try:
        value = float(text[:-1]) / 100 if text.endswith("%") else float(text)
    except ValueError:
        raise UsageError(f"--max-share {item!r}: {text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise UsageError(f"--max-share {item!r}: the fraction must be between 0 and 1")
    return value


def evaluate(tables: ReportTables, gates: Gates) -> GateResult:
    return GateResult(gates, _failing(tables, gates.fail_on), _shares(tables, gates.max_share))


def _failing(tables: ReportTables, terms: Sequence[str]) -> frozenset[tuple[str, str]]:
    if not terms:
        return frozenset()
    hits: set[tuple[str, str]] = set()
    for frame in (tables.sessions, tables.sockets):
        matched = frame[list(MATCHED_COLUMNS)].isin(terms).any(axis=1)
        hits.update(zip(frame.loc[matched, "capture"], frame.loc[matched, "sid"], strict=True))
    return frozenset(hits)


def _shares(tables: ReportTables, limits: Sequence[ShareLimit]) -> tuple[ShareCheck, ...]:
    causes = session_causes(tables.sessions)
    total = len(causes)
    checks = []
    for limit in limits:
        count = int((causes == limit.cause).sum())
        checks.append(ShareCheck(limit.cause, limit.limit, count, count / total if total else 0.0))
    return tuple(checks)


def session_causes(sessions: pd.DataFrame) -> pd.Series:
    """Each session's cause, `unclassified` where the classifier gave none."""
    return sessions["cause"].fillna(UNCLASSIFIED).astype(str)


def unknown_terms(tables: ReportTables, terms: Iterable[str]) -> list[str]:
    """Terms neither in the known vocabulary nor in the data: likely typos."""
    seen = set(KNOWN_TERMS)
    for frame in (tables.sessions, tables.sockets):
        for column in MATCHED_COLUMNS:
            seen.update(v for v in frame[column] if v is not None)
    return [t for t in terms if t not in seen]


def worst_sessions(tables: ReportTables, result: GateResult, limit: int) -> pd.DataFrame:
    """Sessions worth a look first: failing the gate, then abnormal causes, then low confidence."""
    sessions = tables.sessions
    if sessions.empty:
        return sessions
    import pandas as pd

    failing = pd.Series(
        [
            result.is_failing(c, s)
            for c, s in zip(sessions["capture"], sessions["sid"], strict=True)
        ],
        index=sessions.index,
        dtype=bool,
    )
    abnormal = ~session_causes(sessions).isin(BENIGN_CAUSES)
    ranked = sessions.assign(_failing=failing, _abnormal=abnormal)
    ranked = ranked[ranked["_failing"] | ranked["_abnormal"]]
    ranked = ranked.sort_values(
        ["_failing", "_abnormal", "opened_at", "capture", "sid"],
        ascending=[False, False, True, True, True],
        kind="stable",
    )
    return ranked.drop(columns=["_failing", "_abnormal"]).head(limit)

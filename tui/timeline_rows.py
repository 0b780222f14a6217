"""A session's timeline as display rows: heartbeats annotated, the end spelled out.

Pure data, no widgets: the lazy timeline widget renders only the rows on screen, and these
rules are tested without a terminal.
"""

from __future__ import annotations

import enum
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass

from analyzer import NS_PER_S, Heartbeat, Layer, Session, Side, TimelineEvent

GOOD_KINDS = frozenset({"handshake", "open", "connect", "upgrade", "probe-pong"})
BAD_KINDS = frozenset(
    {
        "close",
        "close-frame",
        "disconnect",
        "aborted",
        "http-error",
        "upgrade-refused",
        "malformed",
        "connect-error",
        "timeline-cut",
        "rst",
        "fin",
    }
)
QUIET_KINDS = frozenset({"ping", "pong", "noop", "probe-ping", "ack"})


class Tone(enum.Enum):
    """How loudly a row is drawn; the stylesheet maps each tone to a colour."""

    NORMAL = "normal"
    GOOD = "good"
    BAD = "bad"
    WARN = "warn"
    QUIET = "quiet"


@dataclass(frozen=True, slots=True)
class TimelineRow:
    ts_ns: int
    offset: str  # seconds since the session opened, e.g. "+12.345"
    side: Side | None
    layer: str
    kind: str
    text: str
    note: str  # heartbeat pairing, gap, or verdict words
    tone: Tone
    detail: str


def _offset(ts_ns: int, origin_ns: int) -> str:
    return f"{(ts_ns - origin_ns) / NS_PER_S:+.3f}"


def _tone_for(kind: str) -> Tone:
    if kind in BAD_KINDS or kind.endswith("error"):
        return Tone.BAD
    if kind in GOOD_KINDS:
        return Tone.GOOD
    if kind in QUIET_KINDS:
        return Tone.QUIET
    return Tone.NORMAL


class HeartbeatNotes:
    """Pairs each ping line with its heartbeat: the pong delay and the gap since the last ping."""

    def __init__(self, session: Session) -> None:
        self._beats: list[Heartbeat] = sorted(session.heartbeats, key=lambda h: h.ping_ns)
        self._starts = [h.ping_ns for h in self._beats]
        interval, timeout = session.ping_interval_ms, session.ping_timeout_ms
        # a ping later than interval + timeout after the previous one: the pinger stalled
        self._late_after_ms = interval + timeout if interval and timeout else None

    def _find(self, event: TimelineEvent) -> int | None:
        i = bisect_left(self._starts, event.ts_ns)
        while i < len(self._beats) and self._starts[i] == event.ts_ns:
            if event.side is None or self._beats[i].pinger is event.side:
                return i
            i += 1
        return None

    def note(self, event: TimelineEvent) -> tuple[str, Tone | None]:
        """Words to show beside a ping, and a tone when the heartbeat went wrong."""
        index = self._find(event)
        if index is None:
            return "", None
        beat = self._beats[index]
        parts: list[str] = []
        tone: Tone | None = None
        if beat.pong_ns is None:
            parts.append("NO PONG (ping ACKed)" if beat.ping_acked_ns is not None else "NO PONG")
            tone = Tone.BAD
        else:
            parts.append(f"pong after {(beat.pong_ns - beat.ping_ns) / 1e6:.1f} ms")
        if index > 0:
            gap_ms = (beat.ping_ns - self._beats[index - 1].ping_ns) / 1e6
            parts.append(f"gap {gap_ms / 1000:.2f}s")
            late = self._late_after_ms is not None and gap_ms > self._late_after_ms
            if late and tone is None:
                tone = Tone.WARN
        return ", ".join(parts), tone


def end_row(session: Session) -> TimelineRow:
    """A closing line saying how the session ended, or that the capture ended first."""
    verdict = session.verdict
    words = [
        f"server: {verdict.server_reason or '-'}",
        f"client: {verdict.client_reason or '-'}",
        f"cause: {verdict.cause or 'unclassified'} ({verdict.confidence:.2f})",
    ]
    if session.closed_ns is None or session.open_at_capture_end:
        ts = session.last_seen_ns
        text = "still open when the capture ended"
        tone = Tone.WARN
    else:
        ts = session.closed_ns
        text = "session ended"
        tone = Tone.BAD
    return TimelineRow(
        ts, _offset(ts, session.opened_ns), None, "end", "end", text, "; ".join(words), tone, ""
    )


def timeline_rows(session: Session) -> list[TimelineRow]:
    """Every timeline event of the session as a row, then the end line."""
    notes = HeartbeatNotes(session)
    rows: list[TimelineRow] = []
    for event in session.timeline:
        note, tone = ("", None)
        if event.kind == "ping":
            note, tone = notes.note(event)
        rows.append(
            TimelineRow(
                event.ts_ns,
                _offset(event.ts_ns, session.opened_ns),
                event.side,
                event.layer.value if isinstance(event.layer, Layer) else str(event.layer),
                event.kind,
                event.text,
                note,
                tone or _tone_for(event.kind),
                event.detail,
            )
        )
    rows.append(end_row(session))
    return rows


def row_at_or_after(rows: Sequence[TimelineRow], ts_ns: int) -> int:
    """The index of the first row at or after a time (evidence points into the timeline)."""
    for index, row in enumerate(rows):
        if row.ts_ns >= ts_ns:
            return index
    return max(0, len(rows) - 1)


def describe_row(row: TimelineRow) -> str:
    """The packet-detail pane's text for one row."""
    side = row.side.value if row.side else "observed"
    head = f"{row.offset}s  {side}  {row.layer}  {row.kind}"
    body = [head, row.text]
    if row.note:
        body.append(row.note)
    body.append("")
    body.append(row.detail or "(no packet detail recorded for this line)")
    return "\n".join(body)

"""One session's timeline as SVG: client and server lanes on one time axis.

Every event is a marker with a tooltip; the events that explain an end (close frames,
disconnects, TCP ends, errors) get a label. The silence before the close is shaded, which
is what a proxy's idle timeout looks like.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from analyzer.report import cells
from analyzer.report.svg import LAYER_COLORS, num

WIDTH, LEFT, RIGHT = 1000, 64, 16
LANES = {"client": 44, "server": 92, None: 138}
LANE_NAMES = {"client": "client", "server": "server", None: "observed"}
HEIGHT = 188
AXIS_Y = 166
MAX_MARKERS = 400
MAX_LABEL_ROWS = 2  # per lane: above the client lane, below the server and observed lanes
KEY_KINDS = frozenset(
    {
        "handshake",
        "upgrade",
        "connect",
        "connect-error",
        "disconnect",
        "close",
        "close-frame",
        "tcp-end",
        "aborted",
        "http-error",
        "upgrade-refused",
        "upgrade-failed",
        "silence",
        "malformed",
        "midstream",
        "ws-open",
        "timeline-cut",
    }
)
QUIET_KINDS = frozenset({"ping", "pong", "noop", "post", "retransmission"})


def timeline_svg(session: cells.Row, events: Sequence[cells.Row], capture_end: float | None) -> str:
    """The picture for one session; `events` are its rows of the events table, in time order."""
    start = cells.real(session["opened_at"]) or 0.0
    first = min([start, *(cells.real(e["ts"]) or start for e in events)])
    closed = cells.real(session["closed_at"])
    end = closed if closed is not None else (capture_end or cells.real(session["last_seen_at"]))
    last = max([end or start, *(cells.real(e["ts"]) or start for e in events)])
    scale = _Scale(first, max(last, first + 1e-3))
    parts = [
        f'<svg class="timeline" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-label="timeline of session {escape(cells.text(session["sid"]))}">'
    ]
    parts += _lanes(scale)
    parts += _life(scale, start, end, closed is None)
    parts += _idle(scale, session, closed)
    parts += _axis(scale, start)
    parts += _markers(scale, _thin(events), start)
    parts.append("</svg>")
    return "".join(parts)


class _Scale:
    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high

    def x(self, ts: float) -> float:
        return LEFT + (WIDTH - LEFT - RIGHT) * (ts - self.low) / (self.high - self.low)


def _lanes(scale: _Scale) -> list[str]:
    parts = []
    for side, y in LANES.items():
        parts.append(
            f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{y}" y2="{y}" class="lane"/>'
            f'<text x="{LEFT - 8}" y="{y + 4}" class="lane-name" '
            f'text-anchor="end">{LANE_NAMES[side]}</text>'
        )
    return parts


def _life(scale: _Scale, start: float, end: float | None, is_open: bool) -> list[str]:
    x0 = scale.x(start)
    x1 = scale.x(end if end is not None else scale.high)
    cls = "life open" if is_open else "life"
    parts = [
        f'<rect x="{num(x0)}" y="{LANES["client"] - 12}" width="{num(max(x1 - x0, 1))}" '
        f'height="{LANES["server"] - LANES["client"] + 24}" rx="4" class="{cls}"/>'
    ]
    if is_open:
        parts.append(
            f'<text x="{num(x1 - 4)}" y="{LANES["server"] + 24}" class="tl-note" '
            'text-anchor="end">open at capture end →</text>'
        )
    return parts


def _idle(scale: _Scale, session: cells.Row, closed: float | None) -> list[str]:
    idle = cells.real(session["idle_before_close_s"])
    if closed is None or idle is None or idle <= 0:
        return []
    x0, x1 = scale.x(closed - idle), scale.x(closed)
    if x1 - x0 < 3:
        return []
    label = f"idle {cells.duration(idle)}"
    inside = x1 - x0 > 7 * len(label)
    text_x, anchor = ((x0 + x1) / 2, "middle") if inside else (x0 - 4, "end")
    return [
        f'<rect x="{num(x0)}" y="{LANES["client"] - 12}" width="{num(x1 - x0)}" '
        f'height="{LANES["server"] - LANES["client"] + 24}" class="idle">'
        f"<title>{escape(label)} before the close</title></rect>"
        f'<text x="{num(text_x)}" y="{(LANES["client"] + LANES["server"]) // 2 + 4}" '
        f'class="idle-label" text-anchor="{anchor}">{escape(label)}</text>'
    ]


def _axis(scale: _Scale, origin: float) -> list[str]:
    span = scale.high - scale.low
    step = _nice_step(span / 8)
    parts = [f'<line x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{AXIS_Y}" y2="{AXIS_Y}" class="axis"/>']
    tick = origin + step * -(-(scale.low - origin) // step)
    while tick <= scale.high + step * 1e-6:
        x = scale.x(tick)
        parts.append(
            f'<line x1="{num(x)}" x2="{num(x)}" y1="{AXIS_Y}" y2="{AXIS_Y + 4}" '
            f'class="axis"/><text x="{num(x)}" y="{AXIS_Y + 16}" class="tick" '
            f'text-anchor="middle">{_tick_label(tick - origin, step)}</text>'
        )
        tick += step
    return parts


def _nice_step(raw: float) -> float:
    step = 1e-3
    for factor in (2, 2.5, 2) * 12:
        if step >= raw:
            break
        step *= factor
    return step


def _tick_label(seconds: float, step: float) -> str:
    if abs(seconds) < step / 1000:
        seconds = 0.0
    if step < 1:
        return f"{seconds * 1000:+.0f} ms"
    if step >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:+.0f} min"
    return f"{seconds:+.0f} s"


def _thin(events: Sequence[cells.Row]) -> list[cells.Row]:
    """All key events, and an even sample of the rest when a session is very chatty."""
    if len(events) <= MAX_MARKERS:
        return list(events)
    key = [e for e in events if e["kind"] in KEY_KINDS]
    rest = [e for e in events if e["kind"] not in KEY_KINDS]
    room = max(MAX_MARKERS - len(key), 0)
    every = max(1, -(-len(rest) // room)) if room else len(rest) + 1
    keep = {id(e) for e in [*key[:MAX_MARKERS], *rest[::every]]}
    return [e for e in events if id(e) in keep]


def _markers(scale: _Scale, events: Sequence[cells.Row], origin: float) -> list[str]:
    parts: list[str] = []
    rows: dict[str | None, list[list[tuple[float, float]]]] = {
        side: [[] for _ in range(MAX_LABEL_ROWS if side else 1)] for side in LANES
    }
    for e in events:
        side = e["side"] if e["side"] in ("client", "server") else None
        x, y = scale.x(cells.real(e["ts"]) or origin), LANES[side]
        kind = cells.text(e["kind"])
        color = LAYER_COLORS.get(cells.text(e["layer"]), "#546e7a")
        tip = escape(
            f"{(cells.real(e['ts']) or origin) - origin:+.3f} s · "
            f"{cells.text(e['layer'])} · {cells.text(e['text'])}"
        )
        if kind in KEY_KINDS:
            parts.append(
                f'<g class="key"><line x1="{num(x)}" x2="{num(x)}" y1="{y - 9}" '
                f'y2="{y + 9}" stroke="{color}"/><circle cx="{num(x)}" cy="{y}" r="4.5" '
                f'fill="{color}"/><title>{tip}</title></g>'
            )
            parts.append(_label(rows[side], x, y, side, kind))
        else:
            radius = 2.2 if kind in QUIET_KINDS else 3.2
            parts.append(
                f'<circle cx="{num(x)}" cy="{y}" r="{radius}" fill="{color}" '
                f'class="ev"><title>{tip}</title></circle>'
            )
    return parts


def _label(
    rows: list[list[tuple[float, float]]], x: float, y: int, side: str | None, kind: str
) -> str:
    """Place a label in the first row where it overlaps no other label of its lane."""
    width = 6.0 * len(kind) + 8
    anchor = "end" if x > WIDTH - 80 else "start" if x < LEFT + 40 else "middle"
    low = x - width if anchor == "end" else x if anchor == "start" else x - width / 2
    span = (low, low + width)
    for index, row in enumerate(rows):
        if all(span[1] < other[0] or span[0] > other[1] for other in row):
            row.append(span)
            dy = -(13 + 11 * index) if side == "client" else 19 + 11 * index
            return (
                f'<text x="{num(x)}" y="{num(y + dy)}" class="ev-label" '
                f'text-anchor="{anchor}">{escape(kind)}</text>'
            )
    return ""

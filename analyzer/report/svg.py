"""Inline SVG pictures for the HTML report: histograms, capture-span bars, session timelines.

Plain strings, no plotting library: the report must be one file that opens anywhere, and
the output must be byte-identical for the same input.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from html import escape

from analyzer.report import cells

# Human bin edges (seconds). Bars have equal width whatever their span, so both a burst of
# sub-second sessions and a 60 s proxy timeout stand out.
LIFETIME_EDGES = (0, 0.1, 0.5, 1, 2, 5, 10, 20, 30, 45, 60, 90, 120, 300, 600, 1800, 3600, 4 * 3600)
IDLE_EDGES = (
    0,
    0.5,
    1,
    2,
    5,
    10,
    15,
    20,
    25,
    30,
    35,
    40,
    45,
    50,
    55,
    60,
    65,
    70,
    80,
    90,
    120,
    180,
    300,
    600,
)
CAUSE_COLORS = {
    "client-disconnect": "#43a047",
    "server-disconnect": "#2e7d32",
    "client-reload": "#7cb342",
    "capture-ended": "#9e9e9e",
    "client-left": "#fbc02d",
    "network-loss": "#fb8c00",
    "client-stalled": "#ffa726",
    "server-stalled": "#ef6c00",
    "proxy-timeout": "#d81b60",
    "server-shutdown": "#7e57c2",
    "server-crash": "#c62828",
    "session-unknown": "#8d6e63",
    "upgrade-failed": "#5c6bc0",
    "payload-too-large": "#ad1457",
    "protocol-error": "#6d4c41",
    "protocol-mismatch": "#a1887f",
    "auth-rejected": "#0277bd",
    "unknown": "#607d8b",
    "unclassified": "#90a4ae",
}
LAYER_COLORS = {
    "tcp": "#78909c",
    "http": "#1e88e5",
    "ws": "#8e24aa",
    "eio": "#00897b",
    "sio": "#f4511e",
}


def cause_color(cause: str) -> str:
    """A fixed colour per cause; unknown slugs get a stable colour from their name."""
    if cause in CAUSE_COLORS:
        return CAUSE_COLORS[cause]
    hue = int(hashlib.sha256(cause.encode()).hexdigest()[:4], 16) % 360
    return f"hsl({hue},55%,50%)"


def num(value: float) -> str:
    """Coordinates with two decimals at most, so output is stable and small."""
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def edge_label(seconds: float) -> str:
    if seconds >= 3600:
        return f"{seconds / 3600:g}h"
    if seconds >= 120:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


def bin_counts(values: Sequence[float], edges: Sequence[float]) -> list[int]:
    """Counts per [edge_i, edge_i+1); the last bin also takes everything beyond."""
    counts = [0] * len(edges)
    for value in values:
        index = 0
        while index + 1 < len(edges) and value >= edges[index + 1]:
            index += 1
        counts[index] += 1
    return counts


def histogram(values: Sequence[float], edges: Sequence[float], title: str, note: str) -> str:
    width, height, left, bottom, top = 560, 230, 40, 36, 30
    counts = bin_counts(values, edges)
    used = [i for i, c in enumerate(counts) if c]
    parts = [
        f'<svg class="hist" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}">',
        f'<text x="{left}" y="18" class="h-title">{escape(title)}</text>',
    ]
    if not used:
        parts.append(
            f'<text x="{width / 2}" y="{height / 2}" class="empty" '
            f'text-anchor="middle">{escape(note)}</text></svg>'
        )
        return "".join(parts)
    first, last = used[0], used[-1]
    bins = list(range(first, last + 1))
    peak = max(counts)
    plot_w, plot_h = width - left - 12, height - top - bottom
    bar_w = plot_w / len(bins)
    for step in _count_ticks(peak):
        y = top + plot_h - plot_h * step / peak
        parts.append(
            f'<line x1="{left}" x2="{width - 12}" y1="{num(y)}" y2="{num(y)}" '
            f'class="grid"/><text x="{left - 6}" y="{num(y + 4)}" class="tick" '
            f'text-anchor="end">{step}</text>'
        )
    for slot, index in enumerate(bins):
        parts.append(_bar(slot, index, counts[index], edges, peak, left, top, plot_h, bar_w))
    label_every = max(1, len(bins) // 12)
    for slot, index in enumerate(bins):
        if slot % label_every == 0:
            x = left + slot * bar_w
            parts.append(
                f'<text x="{num(x)}" y="{top + plot_h + 16}" class="tick" '
                f'text-anchor="middle">{edge_label(edges[index])}</text>'
            )
    parts.append(
        f'<line x1="{left}" x2="{width - 12}" y1="{top + plot_h}" y2="{top + plot_h}" '
        f'class="axis"/><text x="{width - 12}" y="{height - 4}" class="note" '
        f'text-anchor="end">{escape(note)}</text></svg>'
    )
    return "".join(parts)


def _bar(
    slot: int,
    index: int,
    count: int,
    edges: Sequence[float],
    peak: int,
    left: int,
    top: int,
    plot_h: int,
    bar_w: float,
) -> str:
    high = edges[index + 1] if index + 1 < len(edges) else None
    span = (
        f"{edge_label(edges[index])}–{edge_label(high)}"
        if high
        else f"≥ {edge_label(edges[index])}"
    )
    h = plot_h * count / peak
    x = left + slot * bar_w + 1.5
    y = top + plot_h - h
    label = (
        f'<text x="{num(x + (bar_w - 3) / 2)}" y="{num(y - 4)}" class="count" '
        f'text-anchor="middle">{count}</text>'
        if count
        else ""
    )
    return (
        f'<rect x="{num(x)}" y="{num(y)}" width="{num(bar_w - 3)}" height="{num(h)}" '
        f'rx="2" class="bar"><title>{span}: {count} sessions</title></rect>{label}'
    )


def _count_ticks(peak: int) -> list[int]:
    """At most five gridlines at 1, 2, 5, 10, 20, 50 ... sessions."""
    step = 1
    while peak / step > 5:
        step = step * 5 // 2 if str(step).startswith("2") else step * 2
    return list(range(step, peak + 1, step))


def cause_strip(counts: Sequence[tuple[str, int]]) -> str:
    """One horizontal bar split by cause: the shape of a capture at a glance."""
    total = sum(n for _, n in counts) or 1
    width, x, parts = (
        1000.0,
        0.0,
        [
            '<svg class="strip" viewBox="0 0 1000 22" '
            'preserveAspectRatio="none" role="img" aria-label="causes">'
        ],
    )
    for cause, n in counts:
        w = width * n / total
        parts.append(
            f'<rect x="{num(x)}" y="0" width="{num(w)}" height="22" '
            f'fill="{cause_color(cause)}"><title>{escape(cause)}: {n}</title></rect>'
        )
        x += w
    parts.append("</svg>")
    return "".join(parts)


def span_bar(
    start: float, end: float, origin: float, finish: float, color: str, is_open: bool
) -> str:
    """Where a session sat inside its capture: a small gantt bar for the table row."""
    width, total = 160.0, max(finish - origin, 1e-9)
    x = width * max(0.0, start - origin) / total
    w = max(2.0, width * max(0.0, end - start) / total)
    tail = (
        f'<path d="M{num(min(x + w, width))} 2 l4 5 l-4 5" class="open-tail"/>' if is_open else ""
    )
    return (
        f'<svg class="span" viewBox="0 0 {num(width + 6)} 14"><rect x="0" y="6" '
        f'width="{num(width)}" height="2" class="span-track"/><rect x="{num(x)}" y="3" '
        f'width="{num(min(w, width - x))}" height="8" rx="2" fill="{color}"/>{tail}</svg>'
    )


def cause_or_default(value: object) -> str:
    return cells.text(value, "unclassified")

"""Turning table cells into text the same way in every writer."""

from __future__ import annotations

import math
from collections.abc import Hashable
from datetime import UTC, datetime
from typing import Any

import pandas as pd

MISSING = "-"
Row = dict[Hashable, Any]


def records(frame: pd.DataFrame) -> list[Row]:
    """A table's rows as dicts, the one way writers walk a table."""
    return frame.to_dict(orient="records")


def missing(value: Any) -> bool:
    """None, NaN and pandas' NA all mean "no value"."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float) and math.isnan(value)


def text(value: Any, default: str = MISSING) -> str:
    return default if missing(value) or value == "" else str(value)


def number(value: Any) -> int | None:
    return None if missing(value) else int(value)


def real(value: Any) -> float | None:
    return None if missing(value) else float(value)


def lines(value: Any) -> list[str]:
    """A newline-joined cell (evidence) back as its lines."""
    return [] if missing(value) or value == "" else str(value).split("\n")


def duration(seconds: Any) -> str:
    """Human scale: 850 ms, 61.0 s, 12 min 03 s, 2 h 05 min."""
    value = real(seconds)
    if value is None:
        return MISSING
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    minutes, secs = divmod(round(value), 60)
    if minutes < 120:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def offset(ts: Any, origin: Any) -> str:
    """A time as seconds after the capture's first packet: +61.002 s."""
    value, start = real(ts), real(origin)
    if value is None:
        return MISSING
    return f"+{value - (start if start is not None else value):.3f} s"


def utc(ts: Any) -> str:
    """Epoch seconds as ISO 8601 UTC (second precision), or "" when unknown."""
    value = real(ts)
    if value is None:
        return ""
    return datetime.fromtimestamp(value, UTC).strftime("%Y-%m-%dT%H:%M:%S")


def percent(fraction: float) -> str:
    return f"{fraction:.1%}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"

"""Export what is on screen through the analyzer's report writers.

The view (filtered sessions, or one session) becomes an `Analysis` holding only those
sessions and the findings that touch them, so every writer renders it unchanged.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from pathlib import Path, PurePath

from analyzer import (
    REPORT_FORMATS,
    REPORT_SUFFIXES,
    Analysis,
    Session,
    SioscopeError,
    render_report,
)


def available_formats() -> list[str]:
    """Every report format, json first."""
    return list(REPORT_FORMATS)


def view_analysis(analysis: Analysis, sessions: Sequence[Session]) -> Analysis:
    """The analysis narrowed to the sessions on screen (capture-wide findings stay)."""
    sids = {s.sid for s in sessions}
    findings = tuple(
        f for f in analysis.findings if not f.sessions or sids.intersection(f.sessions)
    )
    return dataclasses.replace(analysis, sessions=tuple(sessions), findings=findings)


def render_view(analysis: Analysis, sessions: Sequence[Session], fmt: str) -> str:
    if fmt not in REPORT_FORMATS:
        raise SioscopeError(f"no report writer for format {fmt!r}")
    return render_report([view_analysis(analysis, sessions)], fmt)


def default_filename(capture_path: str, fmt: str, label: str) -> str:
    """`<capture stem>-<label>.<suffix>` in the current directory, safe as a file name."""
    stem = PurePath(capture_path).stem or "capture"
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", f"{stem}-{label}")
    return f"{safe}.{REPORT_SUFFIXES.get(fmt, fmt)}"


def write_export(text: str, path: str) -> Path:
    """Write the rendered report; an unwritable path becomes a `SioscopeError` to show."""
    target = Path(path).expanduser()
    try:
        target.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise SioscopeError(f"cannot write: {exc.strerror or exc}", path=path) from exc
    return target

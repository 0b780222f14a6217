"""Reports: pandas tables built once, thin writers per format, and pipeline gates."""

from __future__ import annotations

from analyzer.model import Analysis

FORMATS = ("json", "csv", "md", "junit", "html")
SUFFIXES = {"json": "json", "csv": "csv", "md": "md", "junit": "xml", "html": "html"}


def render_report(analyses: list[Analysis], fmt: str) -> str:
    """One report document in `fmt`, without gates (what the TUI exports)."""
    from analyzer.report.command import render
    from analyzer.report.gates import Gates, evaluate
    from analyzer.report.tables import build_tables

    tables = build_tables(analyses)
    return render(fmt, analyses, tables, evaluate(tables, Gates()))


__all__ = ["FORMATS", "SUFFIXES", "render_report"]

"""sioscope's headless core: read a capture, rebuild Socket.IO sessions, explain their ends.

This module is the public API; the TUI and the report writers use nothing else.
It never imports textual.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

from analyzer.capture.base import CaptureFormat, CaptureInfo
from analyzer.core import NS_PER_S, Diagnostic, Endpoint, Severity, Side
from analyzer.errors import InputError, SioscopeError, UsageError
from analyzer.model import (
    Analysis,
    EngineClose,
    Evidence,
    Finding,
    Heartbeat,
    HttpFailure,
    Layer,
    NamespaceSocket,
    Session,
    TimelineEvent,
    Verdict,
)

if TYPE_CHECKING:
    from analyzer.pipeline import Limits, analyze
    from analyzer.report import FORMATS as REPORT_FORMATS
    from analyzer.report import SUFFIXES as REPORT_SUFFIXES
    from analyzer.report import render_report


def __getattr__(name: str) -> Any:
    """Load the pipeline lazily so importing one decoder does not import every layer."""
    if name in ("analyze", "Limits"):
        from analyzer import pipeline

        return getattr(pipeline, name)
    if name in ("render_report", "REPORT_FORMATS", "REPORT_SUFFIXES"):
        from analyzer import report

        return getattr(report, name.removeprefix("REPORT_") if name != "render_report" else name)
    raise AttributeError(f"module 'analyzer' has no attribute {name!r}")


__all__ = [
    "NS_PER_S",
    "REPORT_FORMATS",
    "REPORT_SUFFIXES",
    "Analysis",
    "CaptureFormat",
    "CaptureInfo",
    "Diagnostic",
    "Endpoint",
    "EngineClose",
    "Evidence",
    "Finding",
    "Heartbeat",
    "HttpFailure",
    "InputError",
    "Layer",
    "Limits",
    "NamespaceSocket",
    "Session",
    "Severity",
    "Side",
    "SioscopeError",
    "TimelineEvent",
    "UsageError",
    "Verdict",
    "__version__",
    "analyze",
    "render_report",
]

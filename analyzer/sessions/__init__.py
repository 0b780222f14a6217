"""Session building: transport events in, `Session` records out."""

from analyzer.sessions.builder import SessionBuilder
from analyzer.sessions.state import Observation

__all__ = ["Observation", "SessionBuilder"]

"""Widgets of the triage TUI, one module each."""

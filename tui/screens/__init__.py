"""Screens of the triage TUI, one module each."""

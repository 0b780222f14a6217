"""Bounds that keep hostile input from exhausting memory or time."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep hostile input from exhausting memory; overridable on the CLI."""

    max_buffer_per_connection: int = 8 * 1024 * 1024
    max_open_connections: int = 1_000_000

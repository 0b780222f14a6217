"""Primitive records shared by every layer: endpoints, sides, diagnostics, time."""

from __future__ import annotations

import enum
import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import NamedTuple

NS_PER_S = 1_000_000_000


class Endpoint(NamedTuple):
    """An IP address (text form) and a port."""

    ip: str
    port: int

    def __str__(self) -> str:
        return f"[{self.ip}]:{self.port}" if ":" in self.ip else f"{self.ip}:{self.port}"


class Side(enum.Enum):
    """Which peer of a Socket.IO session; every layer above TCP speaks in sides."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def other(self) -> Side:
        return Side.SERVER if self is Side.CLIENT else Side.CLIENT


class Severity(enum.Enum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """Something recoverable went wrong or was noteworthy; it travels with the data.

    `code` is a stable kebab-case identifier (e.g. ``tcp-gap``), `where` names the place
    (``packet 1234``, ``conn 17 client->server offset 2048``, ``$.log.entries[3]``).
    """

    code: str
    severity: Severity
    where: str
    message: str


def ns_to_s(ts_ns: int) -> float:
    """Epoch nanoseconds (core) to epoch seconds (reports)."""
    return ts_ns / NS_PER_S


GC_THRESHOLD = (100_000, 50, 100)


@contextmanager
def relaxed_gc() -> Iterator[None]:
    """Collect cyclic garbage less often while a capture is analysed.

    An analysis allocates millions of short-lived records while it keeps many long-lived
    ones; with the default first-generation threshold (700 allocations) the collector
    rescans the survivors over and over, a fifth of the run time. Reference counting
    frees the records themselves; only cycles wait for the rarer collections.
    """
    before = gc.get_threshold()
    gc.set_threshold(*GC_THRESHOLD)
    try:
        yield
    finally:
        gc.set_threshold(*before)

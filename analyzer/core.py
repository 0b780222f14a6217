"""Primitive records shared by every layer: endpoints, sides, diagnostics, time."""

from __future__ import annotations

import enum
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

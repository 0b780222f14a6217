"""Cheap constructors for the frozen model records the builder makes by the thousand.

A `TimelineEvent` built through its dataclass `__init__` costs about as much as decoding
the packet it describes; `analyzer.core.slots_maker` builds the same record in half the
time.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.core import slot_setters, slots_maker
from analyzer.model import ConnFacts, Heartbeat

make_heartbeat: Callable[..., Heartbeat] = slots_maker(Heartbeat)
make_conn_facts: Callable[..., ConnFacts] = slots_maker(ConnFacts)

__all__ = ["make_conn_facts", "make_heartbeat", "slot_setters", "slots_maker"]

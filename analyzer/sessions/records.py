"""Cheap constructors for the frozen model records the builder makes by the thousand
(one `ConnFacts` per connection): `analyzer.core.slots_maker` builds the same record as
the dataclass `__init__` in half the time. Timeline lines and heartbeats are rows until
`analyzer.sessions.spill` decodes them, with the slot setters, in one loop per sequence.
"""

from __future__ import annotations

from collections.abc import Callable

from analyzer.core import slots_maker
from analyzer.model import ConnFacts

make_conn_facts: Callable[..., ConnFacts] = slots_maker(ConnFacts)

__all__ = ["make_conn_facts"]

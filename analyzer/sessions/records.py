"""Cheap constructors for the frozen model records the builder makes by the thousand.

A frozen dataclass's generated `__init__` goes through `object.__setattr__` once per
field, which makes a `TimelineEvent` cost about as much as decoding the packet it
describes. Setting the slots through their descriptors builds the very same object
(same type, fields, equality, hash and repr) in about half the time.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import fields
from typing import TypeVar

from analyzer.model import ConnFacts, Heartbeat

T = TypeVar("T")


def slots_maker(cls: type[T]) -> Callable[..., T]:
    """A constructor taking every field of `cls`, in order, positionally.

    Only for frozen slots dataclasses without `__post_init__` (checked here, once).
    """
    record_fields = fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(not f.init for f in record_fields):
        raise TypeError(f"{cls.__name__} computes fields in __init__; use its constructor")
    names = [f.name for f in record_fields]
    setters = {f"_set_{name}": getattr(cls, name).__set__ for name in names}
    args = ", ".join(names)
    body = "\n".join(f"    _set_{name}(obj, {name})" for name in names)
    namespace: dict[str, object] = {"_new": object.__new__, "_cls": cls, **setters}
    # Generated like dataclasses' own __init__: a loop over the fields would eat the gain.
    exec(f"def make({args}):\n    obj = _new(_cls)\n{body}\n    return obj\n", namespace)
    maker = namespace["make"]
    maker.__qualname__ = maker.__name__ = f"make_{cls.__name__}"  # type: ignore[attr-defined]
    return maker  # type: ignore[return-value]


def slot_setters(cls: type, *names: str) -> tuple[Callable[[object, object], None], ...]:
    """The slot setters of the named fields, which must be all the fields of `cls`."""
    if sorted(names) != sorted(f.name for f in fields(cls)):
        raise TypeError(f"{cls.__name__} has fields {[f.name for f in fields(cls)]}")
    return tuple(getattr(cls, name).__set__ for name in names)


make_heartbeat: Callable[..., Heartbeat] = slots_maker(Heartbeat)
make_conn_facts: Callable[..., ConnFacts] = slots_maker(ConnFacts)

"""Primitive records shared by every layer: endpoints, sides, diagnostics, time."""

from __future__ import annotations

import enum
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, fields
from typing import NamedTuple, TypeVar

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

    # Sides key dicts in every layer and in the records the workers send; `Enum.__hash__`
    # is a Python call. Members are singletons (unpickling included) and compare by
    # identity, so the identity hash agrees with equality.
    __hash__ = object.__hash__

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


# A NamedTuple's generated `__new__` is a Python function, so calling the class runs a
# Python frame even from compiled code. `new_record(Kind, (every field, in order))` builds
# the same record through tuple's own constructor, several times cheaper: for records
# built once per packet or message. Defaults are not applied: every field must be given,
# and mypy checks only that a tuple is given, so the end-to-end tests (every committed
# capture, both decoding paths) are what check the fields.
new_record = tuple.__new__


# -- cheap constructors for frozen slots dataclasses built by the hundred thousand --------
# A frozen dataclass's generated `__init__` goes through `object.__setattr__` once per
# field. Setting the slots through their descriptors builds the very same object (same
# type, fields, equality, hash and repr) in about half the time.

T = TypeVar("T")


def slots_maker(cls: type[T]) -> Callable[..., T]:
    """A constructor taking every field of `cls`, in order, positionally.

    Only for frozen slots dataclasses without `__post_init__` (checked here, once).
    """
    record_fields = fields(cls)  # type: ignore[arg-type]
    if hasattr(cls, "__post_init__") or any(not f.init for f in record_fields):
        raise TypeError(f"{cls.__name__} computes fields in __init__; use its constructor")
    try:
        object.__new__(cls)
    except TypeError:  # compiled by mypyc: its __init__ is C already, use it
        return cls
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

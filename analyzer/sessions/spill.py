"""Finished sessions' bulky parts, kept in a temporary file instead of memory.

A long capture ends hundreds of thousands of timeline lines, heartbeats and connection
records into sessions that are finished long before the report is written. Held as
objects, they made memory grow with the capture's length. Each finished session's
timeline, heartbeats and connections are written to one anonymous temporary file as
plain marshalled rows instead, and come back as records when read: a `Spilled` sequence
is a read-only sequence that equals, hashes and prints as the tuple it stands for. Memory
then follows the number of open sessions (plus a few bytes per finished one).

The file is deleted by the system as soon as it is closed, which happens when the last
session pointing into it is gone.
"""

from __future__ import annotations

import marshal
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

from analyzer.core import Side
from analyzer.model import ConnFacts, Heartbeat, Layer, TimelineEvent
from analyzer.sessions.records import make_conn_facts, make_heartbeat, slots_maker

T = TypeVar("T")
Row = tuple[Any, ...]

RECENT = 4  # decoded sequences kept: the classifier reads one session's parts a few times
MARSHAL_VERSION = 4  # shares repeated string objects (the timeline's texts) within a blob


class SpillFile:
    """An append-only anonymous file of blobs, readable at any offset from any thread."""

    def __init__(self, directory: str | None = None) -> None:
        self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed with self
        self._fd = self._file.fileno()
        self._end = 0
        self._lock = threading.Lock()
        self._recent: OrderedDict[int, tuple[Any, ...]] = OrderedDict()

    @property
    def size(self) -> int:
        """Bytes written so far."""
        return self._end

    def put(self, blob: bytes) -> int:
        """Append `blob`; its offset."""
        with self._lock:
            offset = self._end
            view = memoryview(blob)
            while view:
                written = os.pwrite(self._fd, view, offset + len(blob) - len(view))
                view = view[written:]
            self._end += len(blob)
            return offset

    def get(self, offset: int, length: int) -> bytes:
        data = os.pread(self._fd, length, offset)
        if len(data) != length:
            raise OSError(f"spill file cut short at offset {offset}")
        return data

    def remembered(self, offset: int) -> tuple[Any, ...] | None:
        with self._lock:
            items = self._recent.get(offset)
            if items is not None:
                self._recent.move_to_end(offset)
            return items

    def remember(self, offset: int, items: tuple[Any, ...]) -> None:
        with self._lock:
            self._recent[offset] = items
            while len(self._recent) > RECENT:
                self._recent.popitem(last=False)

    def close(self) -> None:
        self._file.close()


class Codec(Generic[T]):
    """How one record type becomes a row of marshallable values and back."""

    def __init__(self, to_row: Callable[[T], Row], from_row: Callable[[Row], T]) -> None:
        self.to_row = to_row
        self.from_row = from_row


class Spilled(Sequence[T]):
    """A tuple of records kept in a `SpillFile`; read back (and decoded) on access."""

    __slots__ = ("_codec", "_count", "_length", "_offset", "_spill")

    def __init__(self, spill: SpillFile, codec: Codec[T], items: Sequence[T]) -> None:
        blob = marshal.dumps(tuple(map(codec.to_row, items)), MARSHAL_VERSION)
        self._spill = spill
        self._codec = codec
        self._offset = spill.put(blob)
        self._length = len(blob)
        self._count = len(items)

    def _items(self) -> tuple[T, ...]:
        items = self._spill.remembered(self._offset)
        if items is None:
            rows = marshal.loads(self._spill.get(self._offset, self._length))
            items = tuple(map(self._codec.from_row, rows))
            self._spill.remember(self._offset, items)
        return items

    def __len__(self) -> int:
        return self._count

    def __iter__(self) -> Iterator[T]:
        return iter(self._items())

    @overload
    def __getitem__(self, index: int) -> T: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[T, ...]: ...
    def __getitem__(self, index: int | slice) -> T | tuple[T, ...]:
        return self._items()[index]

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Spilled):
            other = other._items()
        return isinstance(other, tuple) and self._items() == other

    def __hash__(self) -> int:
        return hash(self._items())

    def __repr__(self) -> str:
        return repr(self._items())

    def __reduce__(self) -> tuple[type[tuple[Any, ...]], tuple[tuple[T, ...]]]:
        """Copies and pickles are plain tuples: they must not point into this process's file."""
        return (tuple, (self._items(),))


def spilled(spill: SpillFile | None, codec: Codec[T], items: Sequence[T]) -> Sequence[T]:
    """`items` as a tuple in memory, or spilled when there is a file and anything to spill."""
    if spill is None or not items:
        return tuple(items)
    return Spilled(spill, codec, items)


# -- the codecs of the three bulky parts of a session ------------------------------------

_SIDES: tuple[Side | None, ...] = (None, Side.CLIENT, Side.SERVER)
_SIDE_CODES = {side: code for code, side in enumerate(_SIDES)}
_LAYERS = tuple(Layer)
_LAYER_CODES = {layer: code for code, layer in enumerate(_LAYERS)}
_make_event = slots_maker(TimelineEvent)


def _event_row(e: TimelineEvent) -> Row:
    return (e.ts_ns, _SIDE_CODES[e.side], _LAYER_CODES[e.layer], e.kind, e.text, e.conn, e.detail)


def _event(row: Row) -> TimelineEvent:
    ts_ns, side, layer, kind, text, conn, detail = row
    return _make_event(ts_ns, _SIDES[side], _LAYERS[layer], kind, text, conn, detail)


def _heartbeat_row(h: Heartbeat) -> Row:
    return (_SIDE_CODES[h.pinger], h.ping_ns, h.pong_ns, h.ping_acked_ns)


def _heartbeat(row: Row) -> Heartbeat:
    pinger, ping_ns, pong_ns, acked_ns = row
    return make_heartbeat(_SIDES[pinger], ping_ns, pong_ns, acked_ns)


def _conn_row(c: ConnFacts) -> Row:
    counts = tuple((_SIDE_CODES[side], n) for side, n in c.retransmissions.items())
    return (
        c.conn,
        c.transport,
        c.opened_ns,
        c.ended_ns,
        c.end,
        c.conn_state,
        _SIDE_CODES[c.first_fin],
        _SIDE_CODES[c.first_rst],
        counts,
        c.fin_ns,
        c.rst_ns,
    )


def _conn(row: Row) -> ConnFacts:
    conn, transport, opened, ended, end, state, fin, rst, counts, fin_ns, rst_ns = row
    retransmissions = {_SIDES[side]: n for side, n in counts}
    return make_conn_facts(
        conn, transport, opened, ended, end, state, _SIDES[fin], _SIDES[rst],
        retransmissions, fin_ns, rst_ns,
    )  # fmt: skip


TIMELINE: Codec[TimelineEvent] = Codec(_event_row, _event)
HEARTBEATS: Codec[Heartbeat] = Codec(_heartbeat_row, _heartbeat)
CONNECTIONS: Codec[ConnFacts] = Codec(_conn_row, _conn)

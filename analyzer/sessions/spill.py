"""Sessions' bulky parts, kept in a temporary file instead of memory.

Timeline lines, heartbeats and connection records grow with a capture's length: held as
objects until the report is written, they made memory grow with the file. Instead they
go, as plain marshalled rows, to one anonymous temporary file per analysis:

- an open session keeps only its newest rows in memory (`OlderRows` holds where the older
  ones went), so a session that runs for hours costs no more than one that just began;
- a finished session's timeline, heartbeats and connections are written out whole, and a
  `Spilled` sequence reads them back as records when they are used. It equals, hashes and
  prints as the tuple it stands for.

Memory then follows the number of open sessions, plus a few bytes per finished one. The
system deletes the file once it is closed, which happens when the last session pointing
into it is gone.
"""

from __future__ import annotations

import marshal
import os
import tempfile
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, Generic, TypeVar, overload

from analyzer.core import Side, slot_setters
from analyzer.errors import ResourceError
from analyzer.model import ConnFacts, Heartbeat, Layer, TimelineEvent
from analyzer.sessions.records import make_conn_facts

T = TypeVar("T")
Row = tuple[Any, ...]

RowsRef = tuple[int, int]  # offset and length of a blob of rows

RECENT = 4  # decoded sequences kept: the classifier reads one session's parts a few times
MARSHAL_VERSION = 4  # shares repeated string objects (the timeline's texts) within a blob


class SpillFile:
    """An append-only anonymous file of blobs, readable at any offset from any thread."""

    def __init__(self, directory: str | None = None) -> None:
        self._place = directory or tempfile.gettempdir()
        try:
            self._file = tempfile.TemporaryFile(dir=directory)  # noqa: SIM115 - closed with self
        except OSError as exc:
            raise self._refused(exc) from None
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
            try:
                while view:
                    written = os.pwrite(self._fd, view, offset + len(blob) - len(view))
                    view = view[written:]
            except OSError as exc:  # typically a full disk
                raise self._refused(exc) from None
            self._end += len(blob)
            return offset

    def get(self, offset: int, length: int) -> bytes:
        try:
            data = os.pread(self._fd, length, offset)
        except OSError as exc:
            raise self._refused(exc) from None
        if len(data) != length:
            raise ResourceError(f"the temporary session file lost data at offset {offset}")
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

    def put_rows(self, rows: Sequence[Row]) -> RowsRef:
        """Store rows as one blob; where they are."""
        blob = marshal.dumps(tuple(rows), MARSHAL_VERSION)
        return (self.put(blob), len(blob))

    def get_rows(self, ref: RowsRef) -> list[Row]:
        return list(marshal.loads(self.get(*ref)))

    def _refused(self, exc: OSError) -> ResourceError:
        return ResourceError(
            f"cannot use a temporary file in {self._place} for the sessions' timelines: "
            f"{exc.strerror} (set TMPDIR to a writable directory with free space)"
        )


@dataclass(slots=True)
class OlderRows:
    """The older rows of a list an open session keeps growing, moved out a chunk at a time,
    so a long-lived session holds only its newest rows in memory.

    The finished list is sorted by one column (time), stably. Each chunk is sorted as it
    goes out; while every chunk's rows come no earlier than the chunk before, the chunks
    need no second writing: they are already the sorted list's beginning.
    """

    spill: SpillFile
    key: int  # the column the finished list is sorted by
    refs: list[RowsRef] = field(default_factory=list)
    count: int = 0
    latest: int | None = None  # the largest key moved out so far
    in_order: bool = True

    def take(self, rows: list[Any], keep: int) -> list[Any]:
        """Move all but the newest `keep` of `rows` out; the rows kept."""
        moved = sorted(rows[: len(rows) - keep], key=itemgetter(self.key))
        self._follows(moved[0][self.key])
        self.latest = moved[-1][self.key]
        self.refs.append(self.spill.put_rows(moved))
        self.count += len(moved)
        return rows[len(rows) - keep :]

    def sorted_with(self, newest: list[Any]) -> tuple[list[RowsRef], list[Any]]:
        """Every row sorted by the key, stably: the chunks' places when they can stay as
        written, then the remaining rows in memory (all of them when the chunks cannot)."""
        rest = sorted(newest, key=itemgetter(self.key))
        if rest:
            self._follows(rest[0][self.key])
        if self.in_order:
            return list(self.refs), rest
        rows: list[Any] = []
        for ref in self.refs:
            rows += self.spill.get_rows(ref)
        rows += newest
        rows.sort(key=itemgetter(self.key))
        return [], rows

    def _follows(self, first: int) -> None:
        if self.latest is not None and first < self.latest:
            self.in_order = False


class Codec(Generic[T]):
    """How records of one type become rows of marshallable values, and back in bulk."""

    def __init__(
        self,
        rows: Callable[[Sequence[T]], list[Row]],
        records: Callable[[Sequence[Row]], tuple[T, ...]],
    ) -> None:
        self.rows = rows
        self.records = records


class Spilled(Sequence[T]):
    """A tuple of records kept in a `SpillFile` as one or more blobs of rows; read back
    (and decoded) on access."""

    __slots__ = ("_codec", "_count", "_refs", "_spill")

    def __init__(
        self, spill: SpillFile, codec: Codec[T], refs: Sequence[RowsRef], count: int
    ) -> None:
        self._spill = spill
        self._codec = codec
        self._refs = tuple(refs)
        self._count = count

    @classmethod
    def write(cls, spill: SpillFile, codec: Codec[T], rows: Sequence[Row]) -> Spilled[T]:
        return cls(spill, codec, [spill.put_rows(rows)], len(rows))

    def _items(self) -> tuple[T, ...]:
        first = self._refs[0][0]  # the first blob's offset names the sequence
        items = self._spill.remembered(first)
        if items is None:
            rows = self._spill.get_rows(self._refs[0])
            for ref in self._refs[1:]:
                rows += self._spill.get_rows(ref)
            items = self._codec.records(rows)
            self._spill.remember(first, items)
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
    return Spilled.write(spill, codec, codec.rows(items))


def spilled_rows(
    spill: SpillFile | None,
    codec: Codec[T],
    rows: Sequence[Row],
    older: Sequence[RowsRef] = (),
    older_count: int = 0,
) -> Sequence[T]:
    """Records kept as rows from the start: `older` blobs already written (`older_count`
    rows), then `rows`; spilled, or decoded into a tuple when there is no file."""
    if spill is None or (not rows and not older):
        return codec.records(rows)
    refs = [*older, spill.put_rows(rows)] if rows else older
    return Spilled(spill, codec, refs, older_count + len(rows))


# -- the codecs of the three bulky parts of a session ------------------------------------
# Rows name sides and layers by their values (an attribute read; hashing an enum member
# runs Python code). Decoding runs as one loop per sequence, since a call per record would
# cost as much as the record itself.

SIDE_OF: dict[str | None, Side | None] = {None: None, **{s.value: s for s in Side}}
LAYER_OF = {layer.value: layer for layer in Layer}
_HEARTBEAT_SETTERS = slot_setters(Heartbeat, "pinger", "ping_ns", "pong_ns", "ping_acked_ns")
_EVENT_SETTERS = slot_setters(
    TimelineEvent, "ts_ns", "side", "layer", "kind", "text", "conn", "detail"
)


def side_value(side: Side | None) -> str | None:
    return None if side is None else side._value_


def event_row(e: TimelineEvent) -> Row:
    """The timeline's row: `SessionState` keeps its lines in this form while it runs."""
    return (e.ts_ns, side_value(e.side), e.layer._value_, e.kind, e.text, e.conn, e.detail)


def _events(rows: Sequence[Row]) -> tuple[TimelineEvent, ...]:
    new, cls, sides, layers = object.__new__, TimelineEvent, SIDE_OF, LAYER_OF
    set_ts, set_side, set_layer, set_kind, set_text, set_conn, set_detail = _EVENT_SETTERS
    events = []
    for ts_ns, side, layer, kind, text, conn, detail in rows:
        event = new(cls)
        set_ts(event, ts_ns)
        set_side(event, sides[side])
        set_layer(event, layers[layer])
        set_kind(event, kind)
        set_text(event, text)
        set_conn(event, conn)
        set_detail(event, detail)
        events.append(event)
    return tuple(events)


def heartbeat_row(pinger: Side, ping_ns: int, pong_ns: int | None, acked_ns: int | None) -> Row:
    """A heartbeat's row: `SessionState` keeps them in this form while it runs."""
    return (pinger._value_, ping_ns, pong_ns, acked_ns)


def _heartbeat_rows(beats: Sequence[Heartbeat]) -> list[Row]:
    return [(h.pinger._value_, h.ping_ns, h.pong_ns, h.ping_acked_ns) for h in beats]


def _heartbeats(rows: Sequence[Row]) -> tuple[Heartbeat, ...]:
    new, cls, sides = object.__new__, Heartbeat, SIDE_OF
    set_pinger, set_ping, set_pong, set_acked = _HEARTBEAT_SETTERS
    beats = []
    for pinger, ping_ns, pong_ns, acked_ns in rows:
        beat = new(cls)
        set_pinger(beat, sides[pinger])
        set_ping(beat, ping_ns)
        set_pong(beat, pong_ns)
        set_acked(beat, acked_ns)
        beats.append(beat)
    return tuple(beats)


def _conn_rows(conns: Sequence[ConnFacts]) -> list[Row]:
    return [
        (
            c.conn,
            c.transport,
            c.opened_ns,
            c.ended_ns,
            c.end,
            c.conn_state,
            side_value(c.first_fin),
            side_value(c.first_rst),
            tuple((side._value_, n) for side, n in c.retransmissions.items()),
            c.fin_ns,
            c.rst_ns,
        )
        for c in conns
    ]


def _conns(rows: Sequence[Row]) -> tuple[ConnFacts, ...]:
    sides, make = SIDE_OF, make_conn_facts
    conns = []
    for conn, transport, opened, ended, end, state, fin, rst, counts, fin_ns, rst_ns in rows:
        retransmissions = {sides[side]: n for side, n in counts}
        conns.append(
            make(conn, transport, opened, ended, end, state, sides[fin], sides[rst],
                 retransmissions, fin_ns, rst_ns)
        )  # fmt: skip
    return tuple(conns)


TIMELINE: Codec[TimelineEvent] = Codec(lambda events: list(map(event_row, events)), _events)
HEARTBEATS: Codec[Heartbeat] = Codec(_heartbeat_rows, _heartbeats)
CONNECTIONS: Codec[ConnFacts] = Codec(_conn_rows, _conns)

"""What a decoding worker sends its parent: transport events as flat tuples, in batches
(`Outbox`), and how the parent makes them events again (`Rebuilder`).

Split from `analyzer.parallel` so it can be compiled (setup.py): a worker runs `Outbox.pump`
for every TCP event and the parent `Rebuilder.events` for every item, and compiled code
cannot be in the module whose frozen dataclasses are pickled down the pipe (mypyc's cannot
be unpickled).
"""

from __future__ import annotations

import pickle
from array import array
from collections.abc import Callable, Iterator
from dataclasses import fields
from operator import attrgetter, itemgetter
from typing import Any, Protocol

from analyzer.core import Diagnostic, Endpoint, new_record, slots_maker
from analyzer.flows import FlowDecoder
from analyzer.net.events import ConnectionOpened, TcpEvent
from analyzer.net.tcp import TcpReassembler
from analyzer.transport import (
    ConnectionEnded,
    DataAcked,
    HttpExchange,
    HttpRequest,
    HttpResponse,
    Retransmission,
    TransportEvent,
    WsClose,
    WsControl,
    WsMessage,
    WsOpened,
)

BATCH = 4096  # items per message: pickling a list costs far less per item than one send

# Every transport event has `conn` first: a worker sends (code, its conn, other fields)
# and the parent rebuilds the record with the global connection number.
KINDS: tuple[type[Any], ...] = (
    DataAcked,
    WsMessage,
    HttpExchange,
    ConnectionEnded,
    WsOpened,
    WsClose,
    WsControl,
    Retransmission,
)
CODES = {kind: code for code, kind in enumerate(KINDS)}


def _field_names(kind: type[Any]) -> tuple[str, ...]:
    """A record's fields, whether a NamedTuple or a dataclass."""
    named: tuple[str, ...] | None = getattr(kind, "_fields", None)
    return named if named is not None else tuple(f.name for f in fields(kind))


def _flat_exchange(ex: HttpExchange) -> tuple[Any, ...]:
    """An exchange's fields after `conn`, its nested records as plain tuples: one per
    request, they pickle in C instead of through a Python reducer each."""
    response = None if ex.response is None else tuple(ex.response)
    return (tuple(ex.client), tuple(ex.server), tuple(ex.request), response, *ex[5:])


def _flat_ended(ended: ConnectionEnded) -> tuple[Any, ...]:
    """A connection end's fields after `conn`, its endpoints as plain tuples."""
    return (tuple(ended.client), tuple(ended.server), *ended[3:])


# What a worker sends of an event after `conn`: a NamedTuple's fields are one C slice; a
# dataclass's are read one by one. HTTP exchanges and connection ends, one or two per
# connection, go with their nested records as plain tuples.
REST: dict[type[Any], Callable[[Any], tuple[Any, ...]]] = {
    **{
        kind: itemgetter(slice(1, None))
        if issubclass(kind, tuple)
        else attrgetter(*_field_names(kind)[1:])
        for kind in KINDS
    },
    HttpExchange: _flat_exchange,
    ConnectionEnded: _flat_ended,
}


# Items are flat tuples (key, code, ...): the key orders them (the packet index, or the
# connection while closing); the code says what follows: (shard conn, other fields) of a
# transport event of kind `KINDS[code]`, (shard conn) of a connection opened, or (shard,
# diagnostic). A shard conn is a worker's own connection number `local * shards + shard`:
# one int says whose numbering it is, so the parent finds the global number in one list.
OPENED, DIAGNOSTIC = -1, -2


# How the parent rebuilds an event from its global conn and the fields after it.
Builder = Callable[[int, tuple[Any, ...]], Any]


def _exchange_from(conn: int, rest: tuple[Any, ...]) -> HttpExchange:
    response = rest[3]
    return new_record(HttpExchange, (
        conn, new_record(Endpoint, rest[0]), new_record(Endpoint, rest[1]),
        new_record(HttpRequest, rest[2]),
        None if response is None else new_record(HttpResponse, response), *rest[4:],
    ))  # fmt: skip


def _ended_from(conn: int, rest: tuple[Any, ...]) -> ConnectionEnded:
    client, server = new_record(Endpoint, rest[0]), new_record(Endpoint, rest[1])
    return new_record(ConnectionEnded, (conn, client, server, *rest[2:]))


def _through_slots(kind: type[Any]) -> Builder:
    """A dataclass's builder (the rare kinds: a few per connection at most)."""
    make = slots_maker(kind)
    return lambda conn, rest: make(conn, *rest)


# None where a NamedTuple's fields came whole (built inline, cheapest), else a builder.
_BUILDERS: dict[type[Any], Builder] = {
    HttpExchange: _exchange_from,
    ConnectionEnded: _ended_from,
}
MAKERS: tuple[Builder | None, ...] = tuple(
    _BUILDERS.get(kind) or (None if issubclass(kind, tuple) else _through_slots(kind))
    for kind in KINDS
)


class Sink(Protocol):
    """Where batches go: the worker's end of its pipe (a stand-in when measuring)."""

    def send_bytes(self, data: bytes) -> None: ...


class Outbox:
    """Batches a worker's items and sends them down its pipe."""

    def __init__(self, pipe: Sink, flows: FlowDecoder, shard: int, shards: int) -> None:
        self.pipe = pipe
        self.flows = flows
        self.shard = shard
        self.shards = shards
        self.items: list[tuple[Any, ...]] = []
        self.diagnostics_sent = 0

    def pump(self, tcp_events: Iterator[TcpEvent], reassembler: TcpReassembler) -> None:
        """The transport events (and new diagnostics) of every TCP event, keyed by the
        packet that caused it. `add` for every TCP event, inline: a call per TCP event and
        per transport event was a tenth of a worker's time."""
        items, feed, diagnostics = self.items, self.flows.feed, self.flows.diagnostics
        append, codes, rests = items.append, CODES, REST
        shard, shards = self.shard, self.shards
        for tcp_event in tcp_events:
            key = reassembler.packet_index
            if type(tcp_event) is ConnectionOpened:
                append((key, OPENED, tcp_event.conn * shards + shard))
            for event in feed(tcp_event):
                kind = type(event)
                append((key, codes[kind], event.conn * shards + shard, rests[kind](event)))
            if len(diagnostics) > self.diagnostics_sent:
                self.add_diagnostics(key)
            if len(items) >= BATCH:
                self.flush()
                items = self.items
                append = items.append

    def shard_conn(self, local: int) -> int:
        """A local connection number as the parent knows this shard's (see the items)."""
        return local * self.shards + self.shard

    def add(self, key: int, tcp_event: TcpEvent) -> None:
        """The transport events (and new diagnostics) of one TCP event, under `key`."""
        if type(tcp_event) is ConnectionOpened:
            self.items.append((key, OPENED, self.shard_conn(tcp_event.conn)))
        for event in self.flows.feed(tcp_event):
            self.add_event(key, event)
        self.add_diagnostics(key)
        if len(self.items) >= BATCH:
            self.flush()

    def add_event(self, key: int, event: TransportEvent) -> None:
        kind = type(event)
        self.items.append((key, CODES[kind], self.shard_conn(event.conn), REST[kind](event)))

    def add_diagnostics(self, key: int) -> None:
        """The flow layer's diagnostics since the last call, under `key`."""
        diagnostics = self.flows.diagnostics
        if len(diagnostics) > self.diagnostics_sent:
            new = diagnostics[self.diagnostics_sent :]
            self.items.extend((key, DIAGNOSTIC, self.shard, d) for d in new)
            self.diagnostics_sent = len(diagnostics)

    def flush(self) -> None:
        if self.items:
            self.pipe.send_bytes(dumps(self.items))
            self.items = []


def dumps(message: object) -> bytes:
    return pickle.dumps(message, pickle.HIGHEST_PROTOCOL)


Renumber = Callable[[Diagnostic, "array[int]", int, int], Diagnostic]
_NOT_OPENED = array("q", [-1])


class Rebuilder:
    """The parent's side: the transport events of merged items, with global connection
    numbers (here, compiled, since it runs for every item the workers send)."""

    def __init__(self, shards: int, renumber: Renumber) -> None:
        self.shards = shards
        self.renumber = renumber  # names the global conn in a worker's diagnostic
        # By shard conn (-1: not opened yet), as machine integers: 8 bytes a connection.
        self.global_ids = array("q")
        self.next_conn = 0
        self.diagnostics: list[Diagnostic] = []

    def events(self, items: list[tuple[Any, ...]]) -> list[TransportEvent]:
        global_ids, kinds, makers = self.global_ids, KINDS, MAKERS
        events: list[TransportEvent] = []
        append = events.append
        for item in items:
            code: int = item[1]
            if code >= 0:  # a transport event: by far the most frequent item
                conn = global_ids[item[2]]
                rest: tuple[Any, ...] = item[3]
                maker = makers[code]
                append(
                    new_record(kinds[code], (conn, *rest)) if maker is None else maker(conn, rest)
                )
            elif code == OPENED:
                self.opened(item[2])
            else:
                diagnostic = self.renumber(item[3], global_ids, item[2], self.shards)
                self.diagnostics.append(diagnostic)
        return events

    def opened(self, shard_conn: int) -> None:
        """The next global number goes to a shard's newly opened connection."""
        ids = self.global_ids
        if shard_conn >= len(ids):  # the shards open theirs at different paces
            ids.extend(_NOT_OPENED * (shard_conn + 1 - len(ids) + 1024))
        ids[shard_conn] = self.next_conn
        self.next_conn += 1

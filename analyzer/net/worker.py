"""Link/IP/TCP work in a second process, so decoding and the layers above use both cores.

The child maps the pcap, decodes and reassembles it (the fast path) and sends the TCP
events in pickled batches down a pipe, in their exact order; the parent feeds them to the
flow decoder and the session builder as if they came from `fast_tcp_events`. Because one
reassembler still sees every packet, connection numbers, event order and diagnostics are
the same as in one process. At the end the child sends its read tally and its decode and
reassembly counters, which the parent copies into its own (idle) objects.

Started with `spawn` when other threads run (a fork would copy their held locks), with
`fork` otherwise; the cost (a process, pickling) pays only on large captures.
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from multiprocessing.connection import Connection as Pipe
from typing import Any

from analyzer.capture.pcap import FrameSource
from analyzer.capture.tally import ReadTally
from analyzer.errors import SioscopeError
from analyzer.net.events import TcpEvent
from analyzer.net.fast import fast_tcp_events
from analyzer.net.packet import DecodeStats
from analyzer.net.tcp import ReassemblyStats, TcpReassembler

BATCH = 2048  # events per message: large enough that pickling dominates the pipe's cost
Progress = Callable[[int, int], None]


@dataclass(frozen=True, slots=True)
class _Done:
    """The child's last message: what the parent's tally and reassembler must report."""

    tally: dict[str, Any]
    decode_stats: DecodeStats
    reassembly_stats: ReassemblyStats


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class _Progress:
    done: int
    size: int


_TALLY_FIELDS = ("packets", "first_ts_ns", "last_ts_ns", "truncated", "snaplen_cut", "offset")


def _child(path: str, settings: dict[str, int], pipe: Pipe, report_progress: bool) -> None:
    """Decode and reassemble the whole capture, streaming the events to the parent."""
    try:
        source = FrameSource(path)
        reassembler = TcpReassembler(**settings)
        batch: list[TcpEvent] = []

        def progress(done: int, size: int) -> None:
            pipe.send(_Progress(done, size))

        with source.mapped(progress if report_progress else None) as mapped:
            assert mapped is not None  # the parent only forks for classic pcap
            for event in fast_tcp_events(mapped, reassembler):
                batch.append(event)
                if len(batch) >= BATCH:
                    pipe.send(batch)
                    batch = []
        batch.extend(reassembler.finish(truncated=source.info.truncated))
        pipe.send(batch)
        tally = {name: getattr(source.tally, name) for name in _TALLY_FIELDS}
        tally["diagnostics"] = source.diagnostics
        pipe.send(_Done(tally, reassembler.decode_stats, reassembler.stats))
    except SioscopeError as exc:
        pipe.send(_Failed(exc))
    finally:
        pipe.close()


def parallel_tcp_events(
    source: FrameSource, reassembler: TcpReassembler, progress: Progress | None
) -> Iterator[TcpEvent]:
    """The TCP events of `source`, computed in a child process (including `finish`).

    Afterwards `source` and `reassembler` report the child's counts and diagnostics; the
    caller's own `reassembler.finish` then has nothing left to close.
    """
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    settings = {
        "max_buffer": reassembler.max_buffer,
        "max_connections": reassembler.max_connections,
        "gap_after": reassembler.gap_after,
        "linger_ns": reassembler.linger_ns,
        "max_recent": reassembler.max_recent,
    }
    child = context.Process(  # type: ignore[attr-defined]
        target=_child, args=(source.path, settings, sender, progress is not None), daemon=True
    )
    child.start()
    sender.close()
    try:
        yield from _receive(receiver, source, reassembler, progress)
    finally:
        receiver.close()
        child.join(timeout=5)
        if child.is_alive():
            child.kill()
            child.join()


def _context() -> multiprocessing.context.BaseContext:
    """`fork` is cheapest, but copies locks other threads hold (e.g. a TUI's): spawn then."""
    if threading.active_count() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


def _receive(
    receiver: Pipe, source: FrameSource, reassembler: TcpReassembler, progress: Progress | None
) -> Iterator[TcpEvent]:
    while True:
        try:
            message = receiver.recv()
        except EOFError:
            raise RuntimeError("the decoding process ended without its results") from None
        if isinstance(message, list):
            yield from message
        elif isinstance(message, _Progress):
            if progress is not None:
                progress(message.done, message.size)
        elif isinstance(message, _Failed):
            raise message.error
        else:
            _adopt(message, source, reassembler)
            return


def _adopt(done: _Done, source: FrameSource, reassembler: TcpReassembler) -> None:
    """Make the parent's idle source and reassembler report what the child counted."""
    tally = ReadTally()
    for name, value in done.tally.items():
        setattr(tally, name, value)
    source.adopt_tally(tally)
    reassembler.decode_stats = done.decode_stats
    reassembler.stats = done.reassembly_stats

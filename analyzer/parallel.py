"""Decoding on every core: TCP connections split over worker processes, merged back in order.

Each worker maps the pcap and walks every record, but decodes only the TCP connections of
its shard (`analyzer.net.fast.shard_of` their ports, the same both ways), reassembles them
and runs the HTTP/WebSocket layer on them. It sends the transport events it gets, each
tagged with the index of the packet that caused it. The parent merges the shards by that
index, which is the order one process would have produced them in (a packet belongs to one
shard), numbers the connections in order of their opening packet (tshark's tcp.stream
numbering, as one reassembler does) and adds the shards' counters up. The session layer
then sees the same event sequence as in one process, so the analysis is the same; the test
suite checks that on every committed capture.

The one difference: the open-connection limit is shared evenly by the shards.

Each worker is a fresh interpreter (`python -m analyzer.parallel FD`, its settings pickled
on stdin, its items pickled down the pipe FD in the format of `analyzer.handover`). Unlike
a fork it copies nothing of the parent's memory and inherits no lock of the parent's
threads (the TUI runs the analysis in a thread); unlike multiprocessing's spawn it never
re-imports the caller's main script.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import re
import signal
import subprocess
import sys
from bisect import bisect_right
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from multiprocessing.connection import Connection as Pipe
from operator import itemgetter
from pathlib import Path
from typing import Any, TypeVar

from analyzer.capture.pcap import FrameSource
from analyzer.capture.tally import ReadTally
from analyzer.core import Diagnostic, relaxed_gc
from analyzer.errors import SioscopeError
from analyzer.flows import FlowDecoder
from analyzer.handover import Outbox, Rebuilder
from analyzer.http1 import HttpLimits
from analyzer.net.packet import DecodeStats
from analyzer.net.tcp import ReassemblyStats, TcpReassembler
from analyzer.transport import TransportEvent
from analyzer.websocket import WsLimits

SHARDS = 2
Progress = Callable[[int, int], None]

_CONN_WHERE = re.compile(r"conn (\d+)")


@dataclass(frozen=True, slots=True)
class _Settings:
    """What a worker needs to decode exactly as the parent's layers were configured."""

    path: str
    shard: int
    shards: int
    reassembly: dict[str, int]
    # The limits as field values: a compiled (mypyc) frozen dataclass cannot be unpickled.
    http_limits: dict[str, int] | None
    ws_limits: dict[str, int] | None
    report_progress: bool


def _field_values(limits: HttpLimits | WsLimits | None) -> dict[str, int] | None:
    return None if limits is None else asdict(limits)


_Limits = TypeVar("_Limits", HttpLimits, WsLimits)


def _rebuilt(kind: type[_Limits], values: dict[str, int] | None) -> _Limits | None:
    return None if values is None else kind(**values)


@dataclass(frozen=True, slots=True)
class _MainDone:
    """Sent after the last packet's items; the closing items follow."""


@dataclass(frozen=True, slots=True)
class _Done:
    """A worker's last message: its counters, for the parent to add up."""

    tally: dict[str, Any]
    decode_stats: DecodeStats
    reassembly_stats: ReassemblyStats
    tls_connections: int
    other_connections: int


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


@dataclass(frozen=True, slots=True)
class _Progress:
    done: int
    size: int


_TALLY_FIELDS = ("packets", "first_ts_ns", "last_ts_ns", "truncated", "snaplen_cut", "offset")


# -- the worker ---------------------------------------------------------------------------


def _work(settings: _Settings, pipe: Pipe) -> None:
    """One shard: decode, reassemble and parse its connections, stream the items."""
    from analyzer.net.fast import fast_tcp_events  # numpy: the workers' alone, not the parent's

    try:
        source = FrameSource(settings.path)
        reassembler = TcpReassembler(**settings.reassembly)
        flows = FlowDecoder(
            http_limits=_rebuilt(HttpLimits, settings.http_limits),
            ws_limits=_rebuilt(WsLimits, settings.ws_limits),
        )
        outbox = Outbox(pipe, flows, settings.shard, settings.shards)
        progress = (lambda done, size: pipe.send(_Progress(done, size))) if (
            settings.report_progress
        ) else None  # fmt: skip
        with source.mapped(progress) as mapped:
            assert mapped is not None  # the parent only shards classic pcap
            shard = (settings.shard, settings.shards)
            outbox.pump(fast_tcp_events(mapped, reassembler, shard), reassembler)
        outbox.flush()
        pipe.send(_MainDone())
        _finish(source, reassembler, flows, outbox, pipe)
    except SioscopeError as exc:
        pipe.send(_Failed(exc))
    finally:
        pipe.close()


def _finish(
    source: FrameSource,
    reassembler: TcpReassembler,
    flows: FlowDecoder,
    outbox: Outbox,
    pipe: Pipe,
) -> None:
    """Closing what is still open; items are keyed by shard conn, not packet.

    Every shard's reassembler saw the time of every packet, so connections still open
    close at the capture's last segment time, as in one process."""
    for tcp_event in reassembler.finish(truncated=source.info.truncated):
        outbox.add(outbox.shard_conn(tcp_event.conn), tcp_event)
    for event in flows.finish():  # keyed -2 - conn: after the reassembler's closes
        outbox.add_event(-2 - outbox.shard_conn(event.conn), event)
    outbox.add_diagnostics(-1)  # of the flow layer's own end
    outbox.flush()
    tally = {name: getattr(source.tally, name) for name in _TALLY_FIELDS}
    tally["diagnostics"] = source.diagnostics
    pipe.send(
        _Done(
            tally,
            reassembler.decode_stats,
            reassembler.stats,
            flows.tls_connections,
            flows.other_connections,
        )
    )


def _serve() -> None:
    """Worker process entry: settings on stdin, items down the pipe named in argv."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides what an interrupt ends
    settings = pickle.load(sys.stdin.buffer)
    pipe = Pipe(int(sys.argv[1]), readable=False)
    with contextlib.suppress(OSError), relaxed_gc():  # OSError: the parent stopped listening
        _work(settings, pipe)


def _start_worker(settings: _Settings) -> tuple[subprocess.Popen[bytes], Pipe]:
    """A fresh interpreter importing this package from where the parent imported it."""
    read_fd, write_fd = os.pipe()
    package_root = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join([package_root, *filter(None, [os.environ.get("PYTHONPATH")])])
    try:
        worker = subprocess.Popen(
            [sys.executable, "-m", "analyzer.parallel", str(write_fd)],
            stdin=subprocess.PIPE,
            pass_fds=(write_fd,),
            env={**os.environ, "PYTHONPATH": path},
        )
    except OSError:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    assert worker.stdin is not None
    with worker.stdin:
        pickle.dump(settings, worker.stdin)
    return worker, Pipe(read_fd, writable=False)


def _stop(worker: subprocess.Popen[bytes]) -> None:
    try:
        worker.wait(timeout=5)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()


# -- the parent ---------------------------------------------------------------------------


class _Shard:
    """The parent's end of one worker: its items, batch by batch, phase by phase."""

    def __init__(self, pipe: Pipe, progress: Progress | None) -> None:
        self.pipe = pipe
        self.progress = progress
        self.done: _Done | None = None
        self.phase_over = False

    def batch(self) -> list[tuple[Any, ...]] | None:
        """The next batch of items of the current phase; None when the phase is over."""
        while not self.phase_over:
            try:
                message = pickle.loads(self.pipe.recv_bytes())  # send or send_bytes(dumps)
            except EOFError:
                raise RuntimeError("a decoding process ended without its results") from None
            if type(message) is list:
                return message
            if isinstance(message, _Progress):
                if self.progress is not None:
                    self.progress(message.done, message.size)
            elif isinstance(message, _Failed):
                raise message.error
            else:  # _MainDone, or _Done after the closing phase
                self.done = message if isinstance(message, _Done) else None
                self.phase_over = True
        return None

    def next_phase(self) -> None:
        self.phase_over = False


class ShardedDecoder:
    """Transport events of a pcap decoded by worker processes, in one-process order.

    Afterwards the given source, reassembler and flow decoder report what the workers
    counted (tally, decode and reassembly counters, flow diagnostics), so the caller
    assembles diagnostics exactly as after a one-process run.
    """

    def __init__(
        self,
        source: FrameSource,
        reassembler: TcpReassembler,
        flows: FlowDecoder,
        progress: Progress | None = None,
        shards: int = SHARDS,
    ) -> None:
        self.source = source
        self.reassembler = reassembler
        self.flows = flows
        self.progress = progress
        self.shards = shards
        self._rebuilder = Rebuilder(shards, _renumbered)

    def events(self) -> Iterator[TransportEvent]:
        pipes: list[Pipe] = []
        workers: list[subprocess.Popen[bytes]] = []
        try:
            for index in range(self.shards):
                worker, pipe = _start_worker(self._settings(index))
                workers.append(worker)
                pipes.append(pipe)
            shards = [_Shard(p, self.progress if i == 0 else None) for i, p in enumerate(pipes)]
            yield from self._merge_main(shards)
            for shard in shards:
                shard.next_phase()
            yield from self._merge_finish(shards)
            self._adopt(shards)
        finally:
            for pipe in pipes:
                pipe.close()
            for worker in workers:
                _stop(worker)

    def _settings(self, shard: int) -> _Settings:
        r = self.reassembler
        return _Settings(
            path=self.source.path,
            shard=shard,
            shards=self.shards,
            reassembly={
                "max_buffer": r.max_buffer,
                "max_connections": max(1, -(-r.max_connections // self.shards)),
                "gap_after": r.gap_after,
                "linger_ns": r.linger_ns,
                "max_recent": r.max_recent,
            },
            http_limits=_field_values(self.flows.http_limits),
            ws_limits=_field_values(self.flows.ws_limits),
            report_progress=shard == 0 and self.progress is not None,
        )

    def _merge_main(self, shards: list[_Shard]) -> Iterator[TransportEvent]:
        """Items of all shards by packet index (each packet is in exactly one shard).

        Batch-wise: everything up to the smallest last index among the shards' current
        batches is safe to release; a stable sort by index merges it (equal indices come
        from one shard, so their order is kept).
        """
        pending = {shard: items for shard in shards if (items := shard.batch())}
        while pending:
            if len(pending) == 1:
                [(shard, items)] = pending.items()
                yield from self._rebuilder.events(items)
                more = shard.batch()
                pending = {shard: more} if more else {}
                continue
            limit = min(items[-1][0] for items in pending.values())
            ready: list[tuple[Any, ...]] = []
            for shard, items in list(pending.items()):
                cut = bisect_right(items, limit, key=_KEY)
                ready += items[:cut]
                rest = items[cut:] or shard.batch()
                if rest:
                    pending[shard] = rest
                else:
                    del pending[shard]
            ready.sort(key=_KEY)
            yield from self._rebuilder.events(ready)

    def _merge_finish(self, shards: list[_Shard]) -> Iterator[TransportEvent]:
        """Closing items, ordered by global connection as one process closes them."""
        tagged = []
        for shard in shards:
            while (items := shard.batch()) is not None:
                tagged += [(self._finish_order(item), item) for item in items]
        tagged.sort(key=_KEY)  # stable: a shard's items of one connection keep their order
        yield from self._rebuilder.events([item for _, item in tagged])

    def _finish_order(self, item: tuple[Any, ...]) -> tuple[int, int]:
        """Reassembler closes by connection, then the flow layer's own, then the rest."""
        key, ids = item[0], self._rebuilder.global_ids
        if key >= 0:
            return (0, ids[key])
        if key <= -2:
            return (1, ids[-key - 2])
        return (2, 0)

    def _adopt(self, shards: list[_Shard]) -> None:
        """Make the parent's idle layers report what the workers counted, added up."""
        done = [shard.done for shard in shards]
        finished = [d for d in done if d is not None]
        if len(finished) != len(done):
            raise RuntimeError("a decoding process ended without its counters")
        tally = ReadTally()
        for name, value in finished[0].tally.items():
            setattr(tally, name, value)
        self.source.adopt_tally(tally)
        decode_stats, reassembly_stats = DecodeStats(), ReassemblyStats()
        for part in finished:
            decode_stats.add(part.decode_stats)
            reassembly_stats.add(part.reassembly_stats)
        self.reassembler.decode_stats, self.reassembler.stats = decode_stats, reassembly_stats
        self.flows.diagnostics.extend(self._rebuilder.diagnostics)
        self.flows.tls_connections += sum(d.tls_connections for d in finished)
        self.flows.other_connections += sum(d.other_connections for d in finished)


_KEY = itemgetter(0)


def _renumbered(
    diagnostic: Diagnostic, global_ids: Sequence[int], shard: int, shards: int
) -> Diagnostic:
    """A worker's diagnostic names its local connection number; name the global one
    (`global_ids` by shard conn, -1 where not opened yet)."""

    def swap(match: re.Match[str]) -> str:
        at = int(match.group(1)) * shards + shard
        opened = at < len(global_ids) and global_ids[at] >= 0
        return f"conn {global_ids[at]}" if opened else match.group(0)

    return replace(diagnostic, where=_CONN_WHERE.sub(swap, diagnostic.where, count=1))


if __name__ == "__main__":
    # Run the module's own copy under its real name, so what it pickles names the classes
    # as the parent knows them (not as `__main__`).
    from analyzer.parallel import _serve as serve

    serve()

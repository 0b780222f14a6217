"""Sharded decoding: worker processes must reproduce the one-process event sequence.

The end-to-end agreement (whole reports, every committed capture, sharded vs one process)
is in `tests/perf/test_fast_and_slow_paths_agree.py`; here the merge itself is held to the
one-process sequence with more shards than cores, and the bookkeeping pieces are checked.
"""

from __future__ import annotations

import gc
import os
import pickle
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from analyzer import parallel, pipeline
from analyzer.capture.pcap import FrameSource
from analyzer.core import GC_THRESHOLD, Diagnostic, Severity
from analyzer.flows import FlowDecoder
from analyzer.handover import REST, dumps
from analyzer.net.fast import fast_tcp_events, shard_of
from analyzer.net.packet import DecodeStats
from analyzer.net.tcp import TcpReassembler
from analyzer.parallel import ShardedDecoder, _renumbered
from analyzer.transport import ConnectionEnded, HttpExchange, TransportEvent, WsMessage

CAPTURES = Path(__file__).resolve().parents[1] / "captures"


def _one_process(path: Path) -> tuple[list[TransportEvent], list[Diagnostic]]:
    source = FrameSource(path)
    reassembler, flows = TcpReassembler(), FlowDecoder()
    events: list[TransportEvent] = []
    with source.mapped() as mapped:
        assert mapped is not None
        for tcp_event in fast_tcp_events(mapped, reassembler):
            events.extend(flows.feed(tcp_event))
    for tcp_event in reassembler.finish(truncated=source.info.truncated):
        events.extend(flows.feed(tcp_event))
    events.extend(flows.finish())
    return events, [*source.diagnostics, *reassembler.diagnostics, *flows.diagnostics]


def _sharded(path: Path, shards: int) -> tuple[list[TransportEvent], list[Diagnostic]]:
    source = FrameSource(path)
    reassembler, flows = TcpReassembler(), FlowDecoder()
    events = list(ShardedDecoder(source, reassembler, flows, shards=shards).events())
    return events, [*source.diagnostics, *reassembler.diagnostics, *flows.diagnostics]


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("name", ["many-clients.pcap", "nginx-no-sticky.pcap", "malformed.pcap"])
def test_sharded_events_equal_one_process(name: str, shards: int) -> None:
    """Same records in the same order, with tshark's connection numbers, same diagnostics."""
    assert _sharded(CAPTURES / name, shards) == _one_process(CAPTURES / name)


def test_a_cut_capture_is_reported_alike(tmp_path: Path) -> None:
    whole = (CAPTURES / "many-clients.pcap").read_bytes()
    cut = tmp_path / "cut.pcap"
    cut.write_bytes(whole[: len(whole) * 2 // 3])
    sharded, single = _sharded(cut, 2), _one_process(cut)
    assert sharded == single
    assert any(d.code.startswith("tcp-open-at") for d in single[1])


def test_stopping_early_ends_the_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    """A consumer that stops reading (an interrupted TUI load) must not leave processes.

    The workers are recorded as they start: on a small capture one may finish its work
    before the first event is read, so counting live children then would be a race.
    """
    started: list[subprocess.Popen[bytes]] = []
    real_start = parallel._start_worker

    def recording(settings: object) -> object:
        worker, pipe = real_start(settings)  # type: ignore[arg-type]
        started.append(worker)
        return worker, pipe

    monkeypatch.setattr(parallel, "_start_worker", recording)
    before = _children()
    source = FrameSource(CAPTURES / "many-clients.pcap")
    events = ShardedDecoder(source, TcpReassembler(), FlowDecoder()).events()
    next(events)
    assert len(started) == 2
    events.close()
    gc.collect()
    assert all(worker.returncode is not None for worker in started)  # ended and reaped
    assert _children() == before


def _children() -> list[str]:
    """Pids of this process's live children (zombies and `ps` itself excluded)."""
    out = subprocess.run(
        ["ps", "-o", "pid=,stat=,comm=", "--ppid", str(os.getpid())],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = [line.split() for line in out.splitlines() if line.strip()]
    return sorted(pid for pid, stat, comm in rows if not stat.startswith("Z") and comm != "ps")


def test_diagnostics_name_the_global_connection() -> None:
    local = Diagnostic("http-garbage", Severity.WARNING, "conn 1 client offset 7", "bad")
    renamed = _renumbered(local, [4, 9], 0, 1)
    assert renamed.where == "conn 9 client offset 7"
    assert renamed.message == "bad"
    # shard 1 of 2: its local conn 1 sits at 1 * 2 + 1; a connection not opened keeps its name
    assert _renumbered(local, [4, 9, 5, 7], 1, 2).where == "conn 7 client offset 7"
    assert _renumbered(local, [4, 9, 5, -1], 1, 2).where == "conn 1 client offset 7"


def test_counters_add_up() -> None:
    one = DecodeStats(frames=3, tcp=2, malformed=1, unsupported_link={101: 1}, first_malformed=7)
    two = DecodeStats(frames=5, tcp=5, unsupported_link={101: 2, 9: 1}, first_malformed=4)
    total = DecodeStats()
    total.add(one)
    total.add(two)
    assert (total.frames, total.tcp, total.malformed) == (8, 7, 1)
    assert total.unsupported_link == {101: 3, 9: 1}
    assert total.first_malformed == 4


def test_shards_are_symmetric_and_spread_even_ports() -> None:
    """Linux connects from even ports only: the shard function must still split them."""
    ports = range(32768, 60999, 2)
    for shards in (2, 3):
        counts = Counter(shard_of(port, 3000, shards) for port in ports)
        assert min(counts.values()) > len(ports) / shards * 0.8
    assert all(shard_of(a, b, 2) == shard_of(b, a, 2) for a, b in [(3000, 40000), (443, 51515)])


def test_the_collector_is_relaxed_only_during_an_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[tuple[int, int, int]] = []
    real = pipeline._analyze

    def spy(*args: object) -> object:
        seen.append(gc.get_threshold())
        return real(*args)  # type: ignore[arg-type]

    before = gc.get_threshold()
    monkeypatch.setattr(pipeline, "_analyze", spy)
    pipeline.analyze(str(CAPTURES / "namespaces.pcap"))
    assert seen == [GC_THRESHOLD]
    assert gc.get_threshold() == before


def test_items_pickle_to_equal_records_of_the_same_types() -> None:
    """What a worker sends of each event unpickles to equal values of the same classes,
    whatever the kind (HTTP messages, endpoints, enums, dicts by side)."""
    events, _ = _one_process(CAPTURES / "many-clients.pcap")
    items = [(n, REST[type(e)](e)) for n, e in enumerate(events)]
    back = pickle.loads(dumps(items))
    assert back == items
    assert [_types(rest) for _, rest in back] == [_types(rest) for _, rest in items]
    assert {type(e) for e in events} >= {HttpExchange, WsMessage, ConnectionEnded}


def _types(value: object) -> object:
    """The classes of a value and of everything nested in its tuples."""
    if isinstance(value, tuple):
        return (type(value), tuple(_types(v) for v in value))
    return type(value)


def test_the_parent_of_the_workers_does_not_load_numpy() -> None:
    """numpy reads headers in bulk in the workers; the parent, which only merges and builds
    sessions, does without it (about 13 MB less)."""
    capture = CAPTURES / "browser-disconnect.pcap"
    check = (
        "import sys\nfrom analyzer import analyze\n"
        f"analyze({str(capture)!r})\nprint('numpy' in sys.modules)"
    )
    env = {**os.environ, pipeline.PARALLEL_ENV: "1"}
    root = Path(__file__).resolve().parents[1]
    done = subprocess.run(
        [sys.executable, "-c", check], cwd=root, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"

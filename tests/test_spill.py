"""Finished sessions' timelines, heartbeats and connections kept in a spill file."""

from __future__ import annotations

import copy
import errno
import gc
import os
import pickle
import tempfile
import threading
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import analyzer.pipeline
from analyzer.cli import main
from analyzer.core import Side
from analyzer.errors import ResourceError
from analyzer.model import ConnFacts, Heartbeat, Layer, TimelineEvent
from analyzer.pipeline import analyze
from analyzer.sessions.spill import (
    CONNECTIONS,
    HEARTBEATS,
    RECENT,
    TIMELINE,
    OlderRows,
    Spilled,
    SpillFile,
    spilled,
)
from analyzer.sessions.state import HEARTBEAT_CHUNK, TIMELINE_CHUNK, SessionState

CAPTURES = Path(__file__).resolve().parents[1] / "captures"
SHARED = SpillFile()  # one file for the property tests: creating one per example is slow

sides = st.sampled_from([Side.CLIENT, Side.SERVER])
maybe_side = st.one_of(st.none(), sides)
ns = st.integers(min_value=0, max_value=2**63 - 1)
maybe_ns = st.one_of(st.none(), ns)
texts = st.text(max_size=40)

events = st.builds(
    TimelineEvent,
    ns,
    maybe_side,
    st.sampled_from(list(Layer)),
    texts,
    texts,
    st.one_of(st.none(), st.integers(min_value=0, max_value=2**31)),
    texts,
)
heartbeats = st.builds(Heartbeat, sides, ns, maybe_ns, maybe_ns)
conn_facts = st.builds(
    ConnFacts,
    st.integers(min_value=0, max_value=2**31),
    st.sampled_from(["polling", "websocket"]),
    ns,
    maybe_ns,
    st.one_of(st.none(), texts),
    st.one_of(st.none(), texts),
    maybe_side,
    maybe_side,
    st.dictionaries(sides, st.integers(min_value=0, max_value=10**6)),
    maybe_ns,
    maybe_ns,
)


def _event(ts: int, text: str = "ping") -> TimelineEvent:
    return TimelineEvent(ts, Side.SERVER, Layer.EIO, "ping", text, 3)


@given(st.lists(events, max_size=30))
def test_timelines_come_back_equal(items: list[TimelineEvent]) -> None:
    _assert_same(spilled(SHARED, TIMELINE, items), tuple(items))


@given(st.lists(heartbeats, max_size=30))
def test_heartbeats_come_back_equal(items: list[Heartbeat]) -> None:
    _assert_same(spilled(SHARED, HEARTBEATS, items), tuple(items))


@given(st.lists(conn_facts, max_size=30))
def test_connections_come_back_equal(items: list[ConnFacts]) -> None:
    _assert_same(spilled(SHARED, CONNECTIONS, items), tuple(items))


def _assert_same(kept: object, original: tuple[object, ...]) -> None:
    assert kept == original and original == kept
    try:
        assert hash(kept) == hash(original)
    except TypeError:  # ConnFacts hold a dict: neither is hashable
        with pytest.raises(TypeError):
            hash(kept)
    assert repr(kept) == repr(original)
    assert len(kept) == len(original)  # type: ignore[arg-type]
    assert tuple(kept) == original  # type: ignore[arg-type]


def test_nothing_to_spill_or_nowhere_to_spill_stays_a_tuple() -> None:
    assert spilled(SpillFile(), TIMELINE, []) == ()
    assert type(spilled(SpillFile(), TIMELINE, [])) is tuple
    assert type(spilled(None, TIMELINE, [_event(1)])) is tuple


def test_a_spilled_sequence_holds_no_records() -> None:
    spill = SpillFile()
    kept = Spilled.write(
        spill, TIMELINE, TIMELINE.rows([_event(i, f"ping {i}") for i in range(1000)])
    )
    assert spill.size > 0
    held = [*gc.get_referents(kept)]
    held += [inner for r in held if isinstance(r, tuple) for inner in r]
    assert not any(isinstance(r, TimelineEvent) for r in held)
    assert sum(len(r) for r in held if isinstance(r, tuple)) < 10  # a place or two, no rows


def test_indexing_and_slicing_behave_like_a_tuple() -> None:
    items = tuple(_event(i) for i in range(10))
    kept = Spilled.write(SpillFile(), TIMELINE, TIMELINE.rows(items))
    assert kept[0] == items[0] and kept[-1] == items[-1]
    assert kept[2:5] == items[2:5] and kept[-3:] == items[-3:]
    with pytest.raises(IndexError):
        kept[10]
    assert _event(3) in kept and _event(99) not in kept
    assert kept != list(items) and kept != items[:-1]


def test_copies_and_pickles_are_plain_tuples() -> None:
    items = tuple(_event(i) for i in range(3))
    kept = Spilled.write(SpillFile(), TIMELINE, TIMELINE.rows(items))
    for copied in (copy.copy(kept), copy.deepcopy(kept), pickle.loads(pickle.dumps(kept))):
        assert type(copied) is tuple and copied == items


def test_only_a_few_decoded_sequences_are_remembered() -> None:
    spill = SpillFile()
    kept = [Spilled.write(spill, TIMELINE, TIMELINE.rows([_event(i)])) for i in range(RECENT * 3)]
    for sequence in kept:
        assert len(list(sequence)) == 1
    assert len(spill._recent) == RECENT


def test_threads_read_the_same_records() -> None:
    spill = SpillFile()
    kept = [
        Spilled.write(spill, TIMELINE, TIMELINE.rows([_event(i, str(j)) for j in range(50)]))
        for i in range(40)
    ]
    wrong: list[int] = []

    def read() -> None:
        for i, sequence in enumerate(kept):
            if [e.ts_ns for e in sequence] != [i] * 50:
                wrong.append(i)

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not wrong


def _long_session(spill: SpillFile | None, max_timeline: int) -> SessionState:
    """A session noting lines and heartbeats out of time order, as polling does."""
    state = SessionState("sid", 4, None, None, 0, spill=spill, max_timeline=max_timeline)
    for i in range(1, 2000):
        ts = i * 10 - (7 if i % 3 == 0 else 0)
        state.note(ts, Side.SERVER if i % 2 else None, Layer.EIO, "ping", f"line {i}", i % 5)
        if i % 4 == 0:
            state.add_heartbeat(Side.SERVER, ts - 15, ts if i % 8 else None, None)
    return state


@pytest.mark.parametrize("max_timeline", [20_000, 700])
def test_an_open_session_keeps_only_its_newest_rows(max_timeline: int) -> None:
    kept_state = _long_session(SpillFile(), max_timeline)
    assert len(kept_state.timeline) <= TIMELINE_CHUNK + 1
    assert len(kept_state.heartbeats) <= HEARTBEAT_CHUNK
    assert kept_state.timeline_moved > 0
    frozen = kept_state.freeze(None)
    assert isinstance(frozen.timeline, Spilled)
    assert frozen == _long_session(None, max_timeline).freeze(None)
    assert [e.ts_ns for e in frozen.timeline] == sorted(e.ts_ns for e in frozen.timeline)
    cut = max_timeline < 2000
    assert (frozen.timeline[-1].kind == "timeline-cut") is cut
    assert len(frozen.timeline) == (max_timeline if cut else 1999)


def test_chunks_written_in_order_are_not_written_again() -> None:
    older = OlderRows(SpillFile(), key=0)
    rows = [(i, "x") for i in range(10)]
    assert older.take([rows[1], rows[0], *rows[2:6]], 2) == rows[4:6]
    assert older.take([*rows[4:6], *rows[6:]], 0) == []
    assert older.count == 10
    refs, rest = older.sorted_with([(12, "y"), (10, "y")])
    assert len(refs) == 2 and rest == [(10, "y"), (12, "y")]
    assert [row for ref in refs for row in older.spill.get_rows(ref)] == rows


def test_chunks_out_of_order_are_sorted_again_stably() -> None:
    older = OlderRows(SpillFile(), key=0)
    older.take([(5, "a"), (6, "b")], 0)
    older.take([(5, "c"), (7, "d")], 0)  # 5 after 6: the chunks overlap
    refs, rest = older.sorted_with([(6, "e")])
    assert refs == [] and rest == [(5, "a"), (5, "c"), (6, "b"), (6, "e"), (7, "d")]


def test_newest_rows_earlier_than_a_chunk_are_sorted_in() -> None:
    older = OlderRows(SpillFile(), key=0)
    older.take([(5, "a"), (9, "b")], 0)
    refs, rest = older.sorted_with([(7, "c")])
    assert refs == [] and rest == [(5, "a"), (7, "c"), (9, "b")]


@pytest.mark.parametrize("name", ["many-clients.pcap", "browser-reload.pcap", "v2-binary.pcap"])
def test_an_analysis_is_the_same_with_and_without_the_spill_file(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    spilled_analysis = analyze(str(CAPTURES / name))
    assert any(isinstance(s.timeline, Spilled) for s in spilled_analysis.sessions)
    monkeypatch.setattr(analyzer.pipeline, "SpillFile", lambda: None)
    kept_analysis = analyze(str(CAPTURES / name))
    assert all(type(s.timeline) is tuple for s in kept_analysis.sessions)
    assert spilled_analysis == kept_analysis
    assert repr(spilled_analysis) == repr(kept_analysis)


def test_an_unusable_temporary_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ResourceError, match="set TMPDIR"):
        SpillFile(str(tmp_path / "missing"))


def test_a_full_disk_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    spill = SpillFile()

    def full(*args: object) -> int:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "pwrite", full)
    with pytest.raises(ResourceError, match="No space left"):
        spill.put_rows([(1, "x")])


def test_the_cli_reports_an_unusable_temporary_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "missing"))
    assert main(["analyze", str(CAPTURES / "namespaces.pcap")]) == 2
    err = capsys.readouterr().err
    assert "set TMPDIR" in err and "Traceback" not in err

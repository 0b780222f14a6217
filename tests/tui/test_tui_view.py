"""The TUI's rules without a terminal: cells, filters, sorting, timeline rows, loading, export."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from fixtures import MS, T0, S, make_analysis, make_session, sample_sessions
from hypothesis import given, settings
from hypothesis import strategies as st

from analyzer import Evidence, Layer, Session, Side, SioscopeError, TimelineEvent, Verdict
from tui.export import available_formats, default_filename, render_view, view_analysis
from tui.export import write_export as write_file
from tui.loading import AnalysisCancelled, AnalysisRun, SessionBatcher, Throttle, accepts_streaming
from tui.timeline_rows import Tone, describe_row, row_at_or_after, timeline_rows
from tui.view import (
    COLUMN_KEYS,
    SessionFilter,
    SessionIndex,
    SortOrder,
    cause_counts,
    clock,
    filter_choices,
    format_duration,
    session_cells,
    sort_sessions,
    visible_sessions,
)
from tui.widgets.session_table import fit_widths
from tui.widgets.timeline_view import lane_text


def by_sid() -> dict[str, Session]:
    return {s.sid: s for s in sample_sessions()}


def test_cells_follow_the_columns_and_mark_open_sessions() -> None:
    sessions = by_sid()
    cells = dict(zip(COLUMN_KEYS, session_cells(sessions["BBBB"]), strict=True))
    assert cells["sid"] == "BBBB"
    assert cells["client"] == "10.0.0.2:50000"
    assert cells["transports"] == "polling→websocket"
    assert cells["server_reason"] == "ping timeout"
    assert cells["client_reason"] == "-"
    assert cells["cause"] == "client-stalled"
    assert cells["opened"] == clock(T0 + 60 * S) == "22:14:20.000"
    assert session_cells(sessions["EEEE"])[COLUMN_KEYS.index("duration")].startswith("≥")


def test_durations_read_naturally() -> None:
    assert format_duration(1_500 * MS) == "1.500s"
    assert format_duration(61 * S) == "1m01.000s"


def test_filters_by_reason_cause_transport_namespace_and_search() -> None:
    sessions = sample_sessions()

    def sids(flt: SessionFilter) -> set[str]:
        return {s.sid for s in sessions if flt.matches(s)}

    assert sids(SessionFilter(reason="ping timeout")) == {"BBBB"}
    assert sids(SessionFilter(reason="io client disconnect")) == {"AAAA", "CCCC"}
    assert sids(SessionFilter(cause="server-shutdown")) == {"DDDD"}
    assert sids(SessionFilter(transport="websocket")) == {"AAAA", "BBBB", "DDDD", "EEEE"}
    assert sids(SessionFilter(namespace="/chat")) == {"BBBB"}
    assert sids(SessionFilter(search="without a pong")) == {"BBBB"}  # evidence text
    assert sids(SessionFilter(search="50200")) == {"EEEE"}  # client port
    assert sids(SessionFilter(cause="client-disconnect", transport="websocket")) == {"AAAA"}
    assert not SessionFilter().active
    assert SessionFilter(search="x").active


def test_sorting_keeps_missing_values_last_both_ways() -> None:
    sessions = sample_sessions()
    up = [s.sid for s in sort_sessions(sessions, SortOrder("client_reason"))]
    down = [s.sid for s in sort_sessions(sessions, SortOrder("client_reason", reverse=True))]
    assert up[-2:] == down[-2:] and set(up[-2:]) == {"BBBB", "EEEE"}
    assert up[0] in {"AAAA", "CCCC"} and down[0] == "DDDD"
    opened = [s.sid for s in visible_sessions(sessions, SessionFilter(), SortOrder())]
    assert opened == ["AAAA", "DDDD", "EEEE", "BBBB", "CCCC"]


def test_sort_order_toggles_and_cycles() -> None:
    order = SortOrder("cause")
    assert order.toggled("cause") == SortOrder("cause", True)
    assert order.toggled("sid") == SortOrder("sid", False)
    assert SortOrder(COLUMN_KEYS[-1]).next_column().column == COLUMN_KEYS[0]


def test_counts_and_choices_cover_every_session() -> None:
    sessions = sample_sessions()
    assert cause_counts(sessions)["client-disconnect"] == 2
    unknown = replace(sessions[0], verdict=Verdict())
    assert cause_counts([unknown])["unclassified"] == 1
    choices = filter_choices(sessions)
    assert "ping timeout" in choices.reasons and "server shutting down" in choices.reasons
    assert choices.namespaces == ("/", "/admin", "/chat")
    assert choices.transports == ("polling", "websocket")


def test_reconnect_chain_both_ways_and_loops_end() -> None:
    index = SessionIndex(sample_sessions())
    b = index.get("BBBB")
    assert b is not None
    assert [s.sid for s in index.chain(b)] == ["AAAA", "BBBB", "CCCC"]
    assert index.previous(b) is index.get("AAAA") and index.next(b) is index.get("CCCC")
    looped = [make_session("L1", previous_sid="L2"), make_session("L2", previous_sid="L1")]
    assert len(SessionIndex(looped).chain(looped[0])) == 2


def test_timeline_rows_pair_pings_with_pongs_and_end_with_the_verdict() -> None:
    session = by_sid()["BBBB"]  # 3 pings, the first answered
    rows = timeline_rows(session)
    pings = [r for r in rows if r.kind == "ping"]
    assert pings[0].note == "pong after 3.0 ms"
    assert pings[1].note == "NO PONG (ping ACKed), gap 25.00s"
    assert pings[1].tone is Tone.BAD
    assert rows[-1].kind == "end" and "ping timeout" in rows[-1].note
    assert [r.ts_ns for r in rows] == sorted(r.ts_ns for r in rows)
    assert rows[0].offset == "+0.000"
    open_rows = timeline_rows(by_sid()["EEEE"])
    assert open_rows[-1].text == "still open when the capture ended"


def test_a_late_ping_is_a_warning() -> None:
    session = replace(by_sid()["AAAA"], ping_interval_ms=10_000, ping_timeout_ms=5_000)
    pings = [r for r in timeline_rows(session) if r.kind == "ping"]
    assert pings[0].tone is Tone.QUIET and pings[1].tone is Tone.WARN  # 25 s > 15 s


def test_evidence_finds_its_timeline_row_and_detail_shows_the_packet() -> None:
    rows = timeline_rows(by_sid()["BBBB"])
    index = row_at_or_after(rows, T0 + 60 * S + 26 * S)
    assert rows[index].kind == "ping" and rows[index - 1].kind == "pong"
    assert row_at_or_after(rows, T0 * 2) == len(rows) - 1
    assert "pingInterval" in describe_row(rows[1])


def test_lanes_put_each_side_on_its_half() -> None:
    rows = timeline_rows(by_sid()["AAAA"])
    client, server, observed = lane_text(rows[0], 40)  # client request
    assert client.endswith("─►") and not server.strip() and observed == ""
    client, server, observed = lane_text(rows[1], 40)  # server open
    assert server.startswith("◄─") and not client.strip()
    assert len(client) + len(server) == 40
    *_, observed = lane_text(rows[-1], 40)
    assert len(observed) == 40 and "session ended" in observed


def test_columns_shrink_widest_first_to_fit() -> None:
    assert fit_widths([4, 30, 10], 40) == [4, 20, 10]  # 34 cells + 3 gaps of 2
    assert fit_widths([4, 30, 10], 100) == [4, 30, 10]
    assert fit_widths([8, 8], 5) == [6, 6]  # never below the minimum


def test_streaming_is_detected_from_the_signature() -> None:
    def plain(path: str) -> None: ...
    def streaming(path: str, *, progress: object = None, on_session: object = None) -> None: ...
    def loose(path: str, **kwargs: object) -> None: ...

    assert not accepts_streaming(plain)  # type: ignore[arg-type]
    assert accepts_streaming(streaming)  # type: ignore[arg-type]
    assert accepts_streaming(loose)  # type: ignore[arg-type]


def test_batcher_flushes_by_size_and_by_time() -> None:
    now = [0.0]
    batches: list[list[str]] = []
    batcher = SessionBatcher(
        lambda b: batches.append([s.sid for s in b]),
        max_batch=2,
        max_wait_s=1,
        clock=lambda: now[0],
    )
    sessions = sample_sessions()
    batcher.add(sessions[0])
    assert batches == []
    batcher.add(sessions[1])
    assert batches == [["AAAA", "BBBB"]]
    batcher.add(sessions[2])
    now[0] = 5.0
    batcher.add(sessions[3])
    assert batches[-1] == ["CCCC", "DDDD"]
    batcher.flush()
    assert len(batches) == 2


def test_throttle_lets_one_call_through_per_interval() -> None:
    now = [0.0]
    throttle = Throttle(1.0, clock=lambda: now[0])
    assert throttle.ready() and not throttle.ready()
    now[0] = 1.5
    assert throttle.ready()


def test_run_stops_when_cancelled_and_delivers_everything_otherwise() -> None:
    analysis = make_analysis()
    from fixtures import streaming_load

    got: list[str] = []
    run = AnalysisRun(
        streaming_load(analysis),
        "x",
        post=lambda fn, *args: fn(*args),
        on_progress=lambda done, total: None,
        on_sessions=lambda batch: got.extend(s.sid for s in batch),
        cancelled=lambda: False,
    )
    assert run() is analysis
    assert sorted(got) == sorted(s.sid for s in analysis.sessions)
    stopped = AnalysisRun(
        streaming_load(analysis),
        "x",
        post=lambda fn, *args: fn(*args),
        on_progress=lambda done, total: None,
        on_sessions=lambda batch: None,
        cancelled=lambda: True,
    )
    with pytest.raises(AnalysisCancelled):
        stopped()


def test_export_narrows_the_analysis_to_the_view(tmp_path: Path) -> None:
    analysis = make_analysis()
    shown = [s for s in analysis.sessions if s.sid in {"AAAA", "DDDD"}]
    narrowed = view_analysis(analysis, shown)
    assert [s.sid for s in narrowed.sessions] == ["AAAA", "DDDD"]
    assert narrowed.findings == ()  # the only finding names BBBB
    assert "json" in available_formats()
    report = json.loads(render_view(analysis, shown, "json"))
    assert [s["sid"] for s in report["sessions"]] == ["AAAA", "DDDD"]
    with pytest.raises(SioscopeError):
        render_view(analysis, shown, "nonsense")
    assert default_filename("dir/my cap.pcap", "json", "all") == "my_cap-all.json"
    assert write_file("{}", str(tmp_path / "out.json")).read_text() == "{}"
    with pytest.raises(SioscopeError):
        write_file("{}", str(tmp_path / "missing-dir" / "out.json"))


texts = st.text(max_size=40)
maybe_texts = st.none() | texts


@st.composite
def odd_sessions(draw: st.DrawFn) -> Session:
    """Sessions with arbitrary words and times, as a damaged capture might produce."""
    base = make_session(draw(st.text(min_size=1, max_size=12)), pings=draw(st.integers(0, 3)))
    ts = st.integers(0, 2**62)
    events = draw(
        st.lists(
            st.builds(
                TimelineEvent,
                ts,
                st.sampled_from([None, Side.CLIENT, Side.SERVER]),
                st.sampled_from(list(Layer)),
                st.sampled_from(["ping", "pong", "close", "event", "x"]) | texts,
                texts,
                st.none() | st.integers(0, 5),
                texts,
            ),
            max_size=8,
        )
    )
    verdict = Verdict(
        draw(maybe_texts),
        draw(maybe_texts),
        draw(maybe_texts),
        draw(st.floats(0, 1)),
        tuple(Evidence(t, draw(st.none() | ts)) for t in draw(st.lists(texts, max_size=3))),
    )
    return replace(
        base,
        timeline=tuple(sorted(events, key=lambda e: e.ts_ns)),
        verdict=verdict,
        previous_sid=draw(maybe_texts),
        closed_ns=draw(st.none() | ts),
        last_seen_ns=draw(ts),
    )


@settings(max_examples=100, deadline=None)
@given(
    st.lists(odd_sessions(), max_size=4),
    texts,
    st.sampled_from(COLUMN_KEYS),
    st.booleans(),
    st.integers(0, 60),
)
def test_view_rules_accept_any_session(
    sessions: list[Session], needle: str, column: str, reverse: bool, width: int
) -> None:
    flt = SessionFilter(search=needle)
    shown = visible_sessions(sessions, flt, SortOrder(column, reverse))
    assert len(shown) <= len(sessions)
    for session in sessions:
        assert len(session_cells(session)) == len(COLUMN_KEYS)
        rows = timeline_rows(session)
        assert rows[-1].kind == "end"
        for row in rows:
            client, server, observed = lane_text(row, width)
            assert len(observed) == width if observed else len(client) + len(server) == width
    SessionIndex(sessions).chain(sessions[0]) if sessions else None

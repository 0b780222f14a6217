"""Pilot tests: drive the app with keys and assert on widget state and notifications."""

from __future__ import annotations

import asyncio
import functools
import json
import threading
import time
from collections.abc import Callable, Coroutine
from dataclasses import replace
from pathlib import Path

from fixtures import (
    T0,
    S,
    failing_load,
    make_analysis,
    make_session,
    plain_load,
    streaming_load,
    unreadable,
)
from textual.pilot import Pilot
from textual.widgets import Input, OptionList, Select, Static

from analyzer import Analysis, Layer, Session, Side, TimelineEvent
from tui.app import SioscopeApp
from tui.screens.dialogs import ExportScreen, HelpScreen, MessageScreen, NotesScreen
from tui.screens.session import SessionScreen
from tui.screens.sessions import SessionsScreen
from tui.widgets.status import CauseCounts, LoadProgress
from tui.widgets.timeline_view import TimelineView

SIZE = (140, 40)


def sync(test: Callable[..., Coroutine[object, object, None]]) -> Callable[..., None]:
    """Run an async test on its own event loop (no async pytest plugin is required)."""

    @functools.wraps(test)
    def run(*args: object, **kwargs: object) -> None:
        asyncio.run(test(*args, **kwargs))

    return run


async def loaded(pilot: Pilot[None]) -> SessionsScreen:
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()
    screen = pilot.app.screen_stack[1]
    assert isinstance(screen, SessionsScreen)
    return screen


def notes(app: SioscopeApp) -> list[str]:
    return [n.message for n in app._notifications]


def table_sids(screen: SessionsScreen) -> list[str]:
    return [s.sid for s in screen.table.sessions]


@sync
async def test_table_lists_every_session_with_counts_by_cause() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert table_sids(screen) == ["AAAA", "DDDD", "EEEE", "BBBB", "CCCC"]
        counts = str(screen.query_one(CauseCounts).render())
        assert "5 sessions" in counts and "client-disconnect 2" in counts
        assert not screen.query_one(LoadProgress).display
        assert "1234 packets" in str(screen.query_one("#title", Static).render())
        assert notes(app) == []


@sync
async def test_sessions_appear_while_the_analysis_still_runs() -> None:
    analysis = make_analysis()
    release = threading.Event()

    def slow(
        path: str,
        *,
        progress: Callable[[int, int], None],
        on_session: Callable[[Session], None],
    ) -> Analysis:
        progress(10, 100)
        for session in analysis.sessions[:2]:
            on_session(session)
        time.sleep(0.2)
        progress(20, 100)  # the pipeline reports progress every few thousand packets
        release.wait(10)
        for session in analysis.sessions[2:]:
            on_session(session)
        return analysis

    app = SioscopeApp("lab.pcap", slow)
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        assert isinstance(screen, SessionsScreen)
        for _ in range(50):
            await pilot.pause(0.05)
            if screen.table.row_count == 2:
                break
        assert screen.table.row_count == 2 and screen.analysing
        assert screen.query_one(LoadProgress).display
        release.set()
        await loaded(pilot)
        assert screen.table.row_count == 5 and not screen.analysing


@sync
async def test_thousands_of_sessions_stream_in_and_scroll() -> None:
    many = [make_session(f"s{n:05d}", client_port=1000 + n, opened=T0 + n * S) for n in range(3000)]
    app = SioscopeApp("big.pcap", streaming_load(make_analysis(many)))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert screen.table.row_count == 3000
        await pilot.press("G")
        assert screen.table.selected is not None and screen.table.selected.sid == "s02999"
        assert screen.table.scroll_y > 2900
        await pilot.press("slash", *"s0150", "enter")
        await pilot.pause()
        assert screen.table.row_count == 10 and screen.table.has_focus


@sync
async def test_a_load_without_callbacks_still_fills_the_table() -> None:
    app = SioscopeApp("lab.pcap", plain_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        assert screen.table.row_count == 5


@sync
async def test_sort_keys_and_header_clicks_reorder_the_table() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        await pilot.press("r")
        assert table_sids(screen)[0] == "CCCC"
        await pilot.press("s")  # opened -> duration
        assert screen.order.column == "duration"
        assert table_sids(screen)[0] == "BBBB"  # longest first: still reversed
        await pilot.click("#sessions", offset=(2, 0))  # the sid header
        assert screen.order.column == "sid"
        assert table_sids(screen) == sorted(table_sids(screen))


@sync
async def test_filters_and_search_narrow_the_table_and_escape_clears() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        cause: Select[str] = screen.query_one("#filter-cause", Select)
        cause.value = "client-disconnect"
        await pilot.pause()
        assert table_sids(screen) == ["AAAA", "CCCC"]
        assert "(2 shown)" in str(screen.query_one(CauseCounts).render())
        cause.clear()
        await pilot.press("slash")
        assert screen.query_one("#search", Input).has_focus
        await pilot.press(*"chat")
        await pilot.pause()
        assert table_sids(screen) == ["BBBB"]
        await pilot.press("escape")
        assert screen.table.has_focus and table_sids(screen) == ["BBBB"]
        await pilot.press("escape")
        await pilot.pause()
        assert screen.table.row_count == 5


@sync
async def test_enter_opens_the_timeline_and_keys_move_through_it() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("j", "j", "j", "enter")  # BBBB
        screen = app.screen
        assert isinstance(screen, SessionScreen) and screen.session.sid == "BBBB"
        await pilot.pause()
        timeline = screen.query_one(TimelineView)
        assert timeline.has_focus and timeline.cursor == 0
        detail = screen.query_one("#detail", Static)
        assert "GET /socket.io/" in str(detail.render())
        await pilot.press("j")
        await pilot.pause()
        assert "pingInterval" in str(detail.render())
        await pilot.press("G")
        await pilot.pause()
        assert timeline.cursor == len(screen.rows) - 1
        assert "session ended" in str(detail.render())
        await pilot.press("g", "k")
        assert timeline.cursor == 0
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)


@sync
async def test_the_timeline_renders_only_what_is_visible() -> None:
    base = make_session("BIG")
    events = tuple(
        TimelineEvent(base.opened_ns + n, Side.CLIENT, Layer.SIO, "event", f"event {n}")
        for n in range(20_000)
    )
    big = replace(base, timeline=events)
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis([big])))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("enter")
        await pilot.pause()
        timeline = app.screen.query_one(TimelineView)
        assert timeline.virtual_size.height == 20_001
        await pilot.press("G")
        await pilot.pause()
        assert timeline.cursor == 20_000 and timeline.scroll_y > 19_900
        assert timeline.rendered_lines < 500


@sync
async def test_evidence_jumps_to_its_moment_in_the_timeline() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("j", "j", "j", "enter")
        screen = app.screen
        assert isinstance(screen, SessionScreen)
        evidence = screen.query_one("#evidence", OptionList)
        assert evidence.option_count == 1
        evidence.focus()
        evidence.highlighted = 0
        await pilot.press("enter")
        await pilot.pause()
        timeline = screen.query_one(TimelineView)
        assert timeline.has_focus
        assert screen.rows[timeline.cursor].kind == "ping"
        assert "NO PONG" in screen.rows[timeline.cursor].note


@sync
async def test_brackets_follow_the_reconnect_chain() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("j", "j", "j", "enter")  # BBBB
        chain = str(app.screen.query_one("#chain", Static).render())
        assert "AAAA" in chain and "CCCC" in chain
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen) and app.screen.session.sid == "CCCC"
        await pilot.press("left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert isinstance(app.screen, SessionScreen) and app.screen.session.sid == "AAAA"
        await pilot.press("left_square_bracket")
        await pilot.pause()
        assert any("No previous session" in n for n in notes(app))
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)


@sync
async def test_question_mark_lists_every_key() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("question_mark")
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        actions = {action for _, action in help_screen._keys}
        assert {"Quit", "Search", "Sort by next column", "Export view", "Down"} <= actions
        await pilot.press("escape")
        assert isinstance(app.screen, SessionsScreen)
        await pilot.press("enter", "question_mark")
        keys = dict((action, key) for key, action in app.screen._keys)  # type: ignore[attr-defined]
        assert "Next session" in keys and "Next event" in keys


@sync
async def test_unreadable_file_shows_a_message_and_quits_with_its_exit_code() -> None:
    app = SioscopeApp("junk.bin", failing_load(unreadable()))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MessageScreen)
        text = str(app.screen.query_one("#message-text", Static).render())
        assert "junk.bin" in text and "byte 0" in text
        assert any("not a pcap" in n for n in notes(app))
        await pilot.press("q")
    assert app.return_code == 2


@sync
async def test_a_bug_in_the_analysis_is_a_message_not_a_traceback() -> None:
    app = SioscopeApp("x.pcap", failing_load(ZeroDivisionError("boom")))
    async with app.run_test(size=SIZE) as pilot:
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()
        assert isinstance(app.screen, MessageScreen)
        assert "internal error: ZeroDivisionError: boom" in str(
            app.screen.query_one("#message-text", Static).render()
        )
        await pilot.press("escape", "q")
    assert app.return_code == 3


@sync
async def test_no_sessions_and_tls_are_explained() -> None:
    app = SioscopeApp("tls.pcap", streaming_load(make_analysis([], tls=3)))
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        empty = screen.query_one("#empty", Static)
        assert empty.display and "may be inside TLS" in str(empty.render())
        assert any("3 TLS connections" in n for n in notes(app))
        assert any("No Socket.IO sessions" in n for n in notes(app))
        await pilot.press("d")
        assert isinstance(app.screen, NotesScreen)
        assert "3 TLS connections" in str(app.screen.query_one("#notes-text", Static).render())


@sync
async def test_export_writes_the_filtered_view(tmp_path: Path) -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    target = tmp_path / "view.json"
    async with app.run_test(size=SIZE) as pilot:
        screen = await loaded(pilot)
        screen.query_one("#filter-transport", Select).value = "polling"
        await pilot.pause()
        screen.table.focus()
        await pilot.press("e")
        assert isinstance(app.screen, ExportScreen)
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
        assert any("Wrote 5 sessions as json" in n for n in notes(app))
        await pilot.press("slash", *"CCCC", "escape", "e")
        app.screen.query_one("#export-path", Input).value = str(tmp_path / "nodir" / "x.json")
        await pilot.press("enter")
        await pilot.pause()
        assert any("Export failed" in n.title for n in app._notifications)
    report = json.loads(target.read_text())
    assert [s["sid"] for s in report["sessions"]] == ["AAAA", "DDDD", "EEEE", "BBBB", "CCCC"]


@sync
async def test_export_from_a_session_writes_that_session(tmp_path: Path) -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    target = tmp_path / "one.json"
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("j", "enter", "e")
        assert isinstance(app.screen, ExportScreen)
        assert "DDDD" in app.screen.query_one("#export-path", Input).value
        app.screen.query_one("#export-path", Input).value = str(target)
        await pilot.press("enter")
        await pilot.pause()
    report = json.loads(target.read_text())
    assert [s["sid"] for s in report["sessions"]] == ["DDDD"]


@sync
async def test_q_quits_with_success() -> None:
    app = SioscopeApp("lab.pcap", streaming_load(make_analysis()))
    async with app.run_test(size=SIZE) as pilot:
        await loaded(pilot)
        await pilot.press("q")
    assert app.return_code == 0

"""The main screen: the capture's sessions, filled while the analysis runs in a thread."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from functools import partial
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer, Input, Static
from textual.worker import Worker, get_current_worker

from analyzer import Analysis, Session, SioscopeError
from tui.loading import AnalysisCancelled, AnalysisRun
from tui.screens.dialogs import MessageScreen, NotesScreen, start_export
from tui.screens.session import SessionScreen
from tui.view import (
    SearchCache,
    SessionFilter,
    SessionIndex,
    SortOrder,
    ViewStats,
    visible_sessions,
)
from tui.widgets.filter_bar import FilterBar
from tui.widgets.session_table import SessionTable
from tui.widgets.status import CauseCounts, LoadProgress

INTERNAL_ERROR_EXIT = 3


class SessionsScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("slash", "search", "Search"),
        Binding("escape", "leave_search", "Back to table / clear filters"),
        Binding("s", "sort_next", "Sort by next column"),
        Binding("r", "sort_reverse", "Reverse sort"),
        Binding("f", "focus_filters", "Filters"),
        Binding("x", "clear_filters", "Clear filters", show=False),
        Binding("d", "notes", "Findings"),
        Binding("e", "export", "Export view"),
    ]

    class LoadFailed(Message):
        """Tells the app which exit code `q` should return after a failed load."""

        def __init__(self, message: str, exit_code: int) -> None:
            super().__init__()
            self.message = message
            self.exit_code = exit_code

    def __init__(self, path: str, load: Callable[..., Analysis]) -> None:
        super().__init__()
        self.path = path
        self._load = load
        self.analysis: Analysis | None = None
        self.analysing = True
        self.failure: str | None = None
        self.all_sessions: list[Session] = []
        self.index = SessionIndex()
        self.stats = ViewStats()
        self.search_cache = SearchCache()
        self.filter = SessionFilter()
        self.order = SortOrder()

    def compose(self) -> ComposeResult:
        yield Static(f"sioscope · {self.path}", id="title")
        yield LoadProgress(id="progress")
        yield FilterBar(id="filters")
        yield SessionTable(id="sessions")
        yield Static("", id="empty")
        yield CauseCounts("0 sessions", id="counts")
        yield Footer()

    @property
    def table(self) -> SessionTable:
        return self.query_one(SessionTable)

    def on_mount(self) -> None:
        self.query_one("#empty").display = False
        self.table.focus()
        self.run_worker(
            self._analyze, thread=True, exclusive=True, name="analysis", exit_on_error=False
        )

    # -- the worker (runs in a thread) ---------------------------------------------------

    def _analyze(self) -> None:
        worker: Worker[None] = get_current_worker()
        run = AnalysisRun(
            self._load,
            self.path,
            post=self.app.call_from_thread,
            on_progress=self.show_progress,
            on_sessions=self.add_sessions,
            cancelled=lambda: worker.is_cancelled,
        )
        outcome: Callable[[], None]
        try:
            analysis = run()
        except AnalysisCancelled:
            return
        except SioscopeError as exc:
            outcome = partial(
                self.load_failed, "Cannot read this capture", exc.one_line(), exc.exit_code
            )
        except Exception as exc:  # a bug: show it rather than a traceback
            text = f"internal error: {type(exc).__name__}: {exc}"
            outcome = partial(self.load_failed, "Internal error", text, INTERNAL_ERROR_EXIT)
        else:
            outcome = partial(self.load_finished, analysis)
        with contextlib.suppress(RuntimeError):  # the app quit meanwhile
            self.app.call_from_thread(outcome)

    # -- called on the UI thread --------------------------------------------------------

    def show_progress(self, done: int, total: int) -> None:
        self.query_one(LoadProgress).update_progress(done, total)

    def add_sessions(self, batch: list[Session]) -> None:
        """Sessions as the pipeline finishes them: appended unsorted until the end."""
        self.all_sessions.extend(batch)
        self.index.extend(batch)
        self.stats.add(batch)
        self.table.append(s for s in batch if self.filter.matches(s, self.search_cache.text))
        self._refresh_status()

    def load_finished(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.analysing = False
        self.all_sessions = list(analysis.sessions)
        self.index = SessionIndex(analysis.sessions)
        self.stats = ViewStats()
        self.stats.add(analysis.sessions)
        self.query_one(LoadProgress).finish()
        self.refresh_table()
        info = analysis.info
        self.query_one("#title", Static).update(
            f"sioscope · {info.path} · {info.format.value} · {info.packets} packets"
            + (" · TRUNCATED" if info.truncated else "")
            + f" · {len(analysis.findings)} findings · {len(analysis.diagnostics)} diagnostics"
        )
        self._warn_about(analysis)

    def _warn_about(self, analysis: Analysis) -> None:
        tls = analysis.tls_connections
        if tls:
            self.notify(
                f"{tls} TLS connection{'s' if tls != 1 else ''} could not be decrypted: "
                "capture with an SSLKEYLOGFILE or in front of TLS to see those sessions.",
                title="Encrypted traffic",
                severity="warning",
                timeout=10,
            )
        if not analysis.sessions:
            why = " (the traffic may be inside TLS)" if tls else ""
            self._show_empty(f"No Socket.IO sessions found in {analysis.info.path}{why}.")
            self.notify("No Socket.IO sessions in this capture.", severity="warning")

    def _show_empty(self, message: str) -> None:
        empty = self.query_one("#empty", Static)
        empty.update(message)
        empty.display = True
        self.table.display = False

    def load_failed(self, title: str, message: str, exit_code: int) -> None:
        self.analysing = False
        self.failure = message
        self.post_message(self.LoadFailed(message, exit_code))
        self.query_one(LoadProgress).finish()
        self._show_empty(message)
        self.notify(message, title=title, severity="error", timeout=15)
        self.app.push_screen(MessageScreen(title, message))

    def refresh_table(self) -> None:
        shown = visible_sessions(self.all_sessions, self.filter, self.order, self.search_cache.text)
        self.table.show(shown, self.order)
        self._refresh_status()

    def _refresh_status(self) -> None:
        self.query_one(FilterBar).set_choices(self.stats.choices())
        self.query_one(CauseCounts).show_counts(
            self.stats.counts, self.table.row_count, self.stats.total
        )

    # -- user actions -------------------------------------------------------------------

    @on(FilterBar.Changed)
    def _filter_changed(self, event: FilterBar.Changed) -> None:
        self.filter = event.filter
        self.refresh_table()

    @on(SessionTable.SortRequested)
    def _header_clicked(self, event: SessionTable.SortRequested) -> None:
        self.order = self.order.toggled(event.column)
        self.refresh_table()

    @on(SessionTable.Chosen)
    def _open(self, event: SessionTable.Chosen) -> None:
        self.app.push_screen(SessionScreen(event.session, self.index, lambda: self.analysis))

    @on(Input.Submitted, "#search")
    def _search_done(self) -> None:
        self.table.focus()

    def action_search(self) -> None:
        self.query_one(FilterBar).search.focus()

    def action_leave_search(self) -> None:
        if not self.table.has_focus:
            self.table.focus()
        elif self.filter.active:
            self.action_clear_filters()

    def action_clear_filters(self) -> None:
        self.query_one(FilterBar).clear()

    def action_focus_filters(self) -> None:
        self.query_one("#filter-reason").focus()

    def action_sort_next(self) -> None:
        self.order = self.order.next_column()
        self.refresh_table()

    def action_sort_reverse(self) -> None:
        self.order = self.order.toggled(self.order.column)
        self.refresh_table()

    def action_notes(self) -> None:
        if self.analysis is None:
            self.notify("The analysis is still running.", severity="warning")
            return
        self.app.push_screen(NotesScreen(self.analysis))

    def action_export(self) -> None:
        label = "filtered" if self.filter.active else "all"
        start_export(self, self.analysis, self.table.sessions, label)

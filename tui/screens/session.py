"""One session: its timeline, the evidence behind its verdict, packet detail, reconnects."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import Screen
from textual.widgets import Footer, Label, OptionList, Static
from textual.widgets.option_list import Option

from analyzer import Analysis, Session
from tui.screens.dialogs import start_export
from tui.timeline_rows import describe_row, row_at_or_after, timeline_rows
from tui.view import SessionIndex, cause_of, clock, duration_ns, format_duration
from tui.widgets.timeline_view import TimelineView


def summary_text(session: Session) -> Text:
    """The header: who, how long, which transports, and the verdict in the library's words."""
    v = session.verdict
    text = Text()
    text.append(f"session {session.sid}", style="bold")
    text.append(f"  EIO {session.eio or '?'}  {'→'.join(session.transports) or '-'}\n")
    text.append(f"client {session.client or '-'}  server {session.server or '-'}  ")
    text.append(
        f"opened {clock(session.opened_ns)} UTC for {format_duration(duration_ns(session))}"
    )
    if session.ping_interval_ms is not None:
        text.append(f"  ping {session.ping_interval_ms}/{session.ping_timeout_ms} ms")
    text.append("\n")
    text.append(f"cause {cause_of(session)} ({v.confidence:.2f})", style="bold")
    text.append(
        f"   server reason: {v.server_reason or '-'}   client reason: {v.client_reason or '-'}"
    )
    return text


def chain_text(index: SessionIndex, session: Session) -> Text:
    """The reconnect chain of this client, oldest first, this session highlighted."""
    chain = index.chain(session)
    text = Text()
    if len(chain) == 1:
        text.append("no reconnects seen")
        if session.previous_sid:
            text.append(f"\nprevious sid {session.previous_sid} is not in this capture")
        return text
    for position, member in enumerate(chain):
        style = "reverse bold" if member is session else ""
        text.append(f"{position + 1}. {member.sid}", style=style)
        text.append(f"  {cause_of(member)}\n")
    return text


class SessionScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "app.pop_screen", "Back"),
        Binding("left_square_bracket", "previous_session", "Previous session"),
        Binding("right_square_bracket", "next_session", "Next session"),
        Binding("e", "export", "Export session"),
        Binding("t", "focus_timeline", "Timeline", show=False),
        Binding("v", "focus_evidence", "Evidence", show=False),
    ]

    def __init__(
        self,
        session: Session,
        index: SessionIndex,
        analysis: Callable[[], Analysis | None],
    ) -> None:
        super().__init__()
        self.session = session
        self.index = index
        self._analysis = analysis
        self.rows = timeline_rows(session)

    def compose(self) -> ComposeResult:
        yield Static(summary_text(self.session), id="summary")
        with Horizontal(id="session-body"):
            yield TimelineView(self.rows, id="timeline")
            with Vertical(id="side-panel"):
                yield Label("Evidence", classes="panel-title")
                yield OptionList(*self._evidence_options(), id="evidence")
                yield Label("Packet detail", classes="panel-title")
                with VerticalScroll(id="detail-scroll"):
                    yield Static("", id="detail")
                yield Label(Text("Reconnect chain  ([ previous, ] next)"), classes="panel-title")
                yield Static(chain_text(self.index, self.session), id="chain")
        yield Footer()

    def _evidence_options(self) -> list[Option]:
        evidence = self.session.verdict.evidence
        if not evidence:
            return [Option("no evidence recorded for this verdict", disabled=True)]
        return [Option(item.text, id=str(n)) for n, item in enumerate(evidence)]

    def on_mount(self) -> None:
        self.query_one(TimelineView).focus()

    @on(TimelineView.Selected)
    def _show_detail(self, event: TimelineView.Selected) -> None:
        self.query_one("#detail", Static).update(Text(describe_row(event.row)))

    @on(OptionList.OptionSelected, "#evidence")
    def _jump_to_evidence(self, event: OptionList.OptionSelected) -> None:
        """Evidence points into the timeline: selecting it moves the timeline cursor there."""
        if event.option.id is None:
            return
        item = self.session.verdict.evidence[int(event.option.id)]
        if item.ts_ns is None:
            self.notify("This evidence has no time in the timeline.")
            return
        timeline = self.query_one(TimelineView)
        timeline.cursor = row_at_or_after(self.rows, item.ts_ns)
        timeline.focus()

    def _go(self, other: Session | None, which: str) -> None:
        if other is None:
            self.notify(f"No {which} session of this client in the capture.")
            return
        self.app.switch_screen(SessionScreen(other, self.index, self._analysis))

    def action_previous_session(self) -> None:
        self._go(self.index.previous(self.session), "previous")

    def action_next_session(self) -> None:
        self._go(self.index.next(self.session), "next")

    def action_focus_timeline(self) -> None:
        self.query_one(TimelineView).focus()

    def action_focus_evidence(self) -> None:
        self.query_one("#evidence").focus()

    def action_export(self) -> None:
        start_export(self, self._analysis(), [self.session], self.session.sid)

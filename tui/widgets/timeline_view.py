"""A session's timeline, both sides on one time axis, rendered lazily line by line.

Only the lines on screen are ever turned into segments (the Line API of `ScrollView`), so a
session with a hundred thousand events scrolls as fast as one with ten.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from analyzer import Side
from tui.timeline_rows import TimelineRow, Tone

TIME_WIDTH = 11
TONE_CLASS = {
    Tone.GOOD: "timeline--good",
    Tone.BAD: "timeline--bad",
    Tone.WARN: "timeline--warn",
    Tone.QUIET: "timeline--quiet",
}


def _fit(text: str, width: int) -> str:
    if width <= 0:
        return ""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def lane_text(row: TimelineRow, width: int) -> tuple[str, str, str]:
    """Split a line into (client lane, server lane, observation) strings of the right width.

    The client's packets end in an arrow pointing right, at the middle of the line; the
    server's start with an arrow pointing left from there; observations span both lanes.
    """
    left = width // 2
    right = width - left
    if row.side is Side.CLIENT:
        arrowed = _words(row, left - 3) + " ─►"
        return arrowed[max(0, len(arrowed) - left) :].rjust(left), " " * right, ""
    if row.side is Side.SERVER:
        return " " * left, ("◄─ " + _words(row, right - 3))[:right].ljust(right), ""
    return "", "", ("· " + _words(row, width - 4) + " ·")[:width].center(width)


def _words(row: TimelineRow, width: int) -> str:
    """Layer, text and note in `width` cells; the note (pong delay, NO PONG) is cut last."""
    head = f"[{row.layer}] {row.text}"
    if not row.note:
        return _fit(head, width)
    room = width - len(row.note) - 2
    if room >= 12:
        return f"{_fit(head, room)}  {row.note}"
    if row.kind == "ping":  # the pairing matters more than the words "ping (2) over ..."
        return _fit(f"ping  {row.note}", width)
    return _fit(f"{head}  {row.note}", width)


class TimelineView(ScrollView, can_focus=True):
    """A cursor over timeline rows; moving it posts `TimelineView.Selected`."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "timeline--cursor",
        "timeline--time",
        "timeline--good",
        "timeline--bad",
        "timeline--warn",
        "timeline--quiet",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "move(1)", "Next event", show=False),
        Binding("k,up", "move(-1)", "Previous event", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("g,home", "first", "First event", show=False),
        Binding("G,end", "last", "Last event", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Selected(Message):
        def __init__(self, row: TimelineRow, index: int) -> None:
            super().__init__()
            self.row = row
            self.index = index

    def __init__(self, rows: Sequence[TimelineRow], *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.rows = rows
        self.rendered_lines = 0  # how many lines were drawn: proves the rendering is lazy

    def on_mount(self) -> None:
        self.virtual_size = Size(0, len(self.rows))
        if self.rows:
            self.post_message(self.Selected(self.rows[0], 0))

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self.rows) - 1))

    def watch_cursor(self, value: int) -> None:
        if not self.rows:
            return
        self.scroll_to_region(Region(0, value, 1, 1), animate=False, immediate=True)
        self.refresh()
        self.post_message(self.Selected(self.rows[value], value))

    def action_move(self, step: int) -> None:
        self.cursor += step

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 1)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self.rows) - 1

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is not None and offset.y + round(self.scroll_y) < len(self.rows):
            self.cursor = offset.y + round(self.scroll_y)

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        index = round(self.scroll_y) + y
        if index >= len(self.rows):
            return Strip.blank(width, self.rich_style)
        self.rendered_lines += 1
        return self._strip(self.rows[index], width, selected=index == self.cursor)

    def _strip(self, row: TimelineRow, width: int, *, selected: bool) -> Strip:
        base = self.rich_style
        tone = (
            self.get_component_rich_style(TONE_CLASS[row.tone]) if row.tone in TONE_CLASS else None
        )
        body_style = base + tone if tone else base
        text = Text(no_wrap=True, overflow="crop")
        text.append(
            f"{row.offset:>{TIME_WIDTH - 1}} ", self.get_component_rich_style("timeline--time")
        )
        client, server, observed = lane_text(row, max(0, width - TIME_WIDTH))
        if observed:
            text.append(observed, body_style)
        else:
            text.append(client, body_style)
            text.append(server, body_style)
        segments: list[Segment] = list(text.render(self.app.console, end=""))
        strip = Strip(segments).adjust_cell_length(width, base)
        if selected:
            cursor: Style = self.get_component_rich_style("timeline--cursor")
            strip = strip.apply_style(cursor)
        return strip

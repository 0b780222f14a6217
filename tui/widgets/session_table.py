"""The session table, drawn lazily: only the rows on screen become segments.

A `DataTable` measures every cell of every row it is given, which took seconds per rebuild at
twenty thousand sessions; this table keeps each session's cells as plain strings and renders
the visible lines through the Line API, so filtering and sorting stay instant.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from analyzer import Session
from tui.view import COLUMNS, SortOrder, session_cells

CAUSE_COLUMN = [c.key for c in COLUMNS].index("cause")
CALM_CAUSES = frozenset({"client-disconnect", "server-disconnect", "capture-ended"})
MAX_WIDTH = 40
GAP = 2


def cause_style(cause: str) -> str:
    """Colour the cause so trouble stands out in a long table."""
    if cause in CALM_CAUSES:
        return "green"
    return "yellow" if cause == "unclassified" else "red"


def fit_widths(widths: list[int], available: int, minimum: int = 6) -> list[int]:
    """Shrink the widest columns first until the row fits the screen (or all are minimal)."""
    fitted = list(widths)
    excess = sum(fitted) + GAP * len(fitted) - available
    while excess > 0:
        widest = max(range(len(fitted)), key=fitted.__getitem__)
        if fitted[widest] <= minimum:
            break
        fitted[widest] -= 1
        excess -= 1
    return fitted


class SessionTable(ScrollView, can_focus=True):
    """One row per session; a header line that stays on top; a row cursor."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "session-table--header",
        "session-table--cursor",
        "session-table--odd",
    }
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "choose", "Open session"),
        Binding("j,down", "move(1)", "Down", show=False),
        Binding("k,up", "move(-1)", "Up", show=False),
        Binding("pagedown,ctrl+f", "page(1)", "Page down", show=False),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False),
        Binding("g,home", "first", "First", show=False),
        Binding("G,end", "last", "Last", show=False),
    ]

    cursor: reactive[int] = reactive(0, always_update=True)

    class Chosen(Message):
        """Enter, or a click on the row under the cursor."""

        def __init__(self, session: Session) -> None:
            super().__init__()
            self.session = session

    class SortRequested(Message):
        """A click on a column header."""

        def __init__(self, column: str) -> None:
            super().__init__()
            self.column = column

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.order = SortOrder()
        self._shown: list[Session] = []
        self._cells: dict[int, tuple[Session, tuple[str, ...]]] = {}
        self._widths = [len(self._label(c.key, c.label)) for c in COLUMNS]
        self._fitted = list(self._widths)
        self._fitted_for = -1  # the width _fitted was computed for

    # -- content ------------------------------------------------------------------------

    @property
    def sessions(self) -> list[Session]:
        """The sessions shown, in table order."""
        return list(self._shown)

    @property
    def row_count(self) -> int:
        return len(self._shown)

    @property
    def selected(self) -> Session | None:
        return self._shown[self.cursor] if self._shown else None

    def cells(self, session: Session) -> tuple[str, ...]:
        cached = self._cells.get(id(session))
        if cached is None:
            cached = (session, session_cells(session))
            self._cells[id(session)] = cached
        return cached[1]

    def append(self, sessions: Iterable[Session]) -> None:
        added = list(sessions)
        self._shown.extend(added)
        self._widen(added)
        self._resize()

    def show(self, sessions: Iterable[Session], order: SortOrder) -> None:
        """Replace every row, keeping the cursor on the same session when it is still shown."""
        keep = self.selected
        self.order = order
        self._shown = list(sessions)
        self._widths = [len(self._label(c.key, c.label)) for c in COLUMNS]
        self._widen(self._shown)
        self._resize()
        if keep is None or not self.select(keep):
            self.cursor = 0

    def select(self, session: Session) -> bool:
        for index, shown in enumerate(self._shown):
            if shown is session:
                self.cursor = index
                return True
        return False

    def _widen(self, sessions: Iterable[Session]) -> None:
        widths = self._widths
        for session in sessions:
            for n, cell in enumerate(self.cells(session)):
                if len(cell) > widths[n]:
                    widths[n] = min(len(cell), MAX_WIDTH)

    def _resize(self) -> None:
        """Columns shrink to the screen's width instead of scrolling sideways."""
        self._fitted_for = -1
        self.virtual_size = Size(0, len(self._shown) + 1)
        self.refresh()

    def _fit(self, width: int) -> None:
        if width != self._fitted_for:
            self._fitted = fit_widths(self._widths, width)
            self._fitted_for = width

    def _label(self, key: str, label: str) -> str:
        if key != self.order.column:
            return label
        return f"{label} {'▼' if self.order.reverse else '▲'}"

    # -- cursor and keys ----------------------------------------------------------------

    def validate_cursor(self, value: int) -> int:
        return max(0, min(value, len(self._shown) - 1))

    def watch_cursor(self, value: int) -> None:
        visible = max(1, self.scrollable_content_region.height - 1)  # minus the header
        top = round(self.scroll_y)
        if value < top:
            self.scroll_to(y=value, animate=False, immediate=True)
        elif value >= top + visible:
            self.scroll_to(y=value - visible + 1, animate=False, immediate=True)
        self.refresh()

    def action_move(self, step: int) -> None:
        self.cursor += step

    def action_page(self, direction: int) -> None:
        self.cursor += direction * max(1, self.scrollable_content_region.height - 2)

    def action_first(self) -> None:
        self.cursor = 0

    def action_last(self) -> None:
        self.cursor = len(self._shown) - 1

    def action_choose(self) -> None:
        if self.selected is not None:
            self.post_message(self.Chosen(self.selected))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None:
            return
        if offset.y == 0:
            column = self._column_at(offset.x)
            if column is not None:
                self.post_message(self.SortRequested(column))
            return
        index = offset.y - 1 + round(self.scroll_y)
        if index < len(self._shown):
            if index == self.cursor:  # a second click, or a double click, opens it
                self.action_choose()
            else:
                self.cursor = index

    def _column_at(self, x: int) -> str | None:
        self._fit(self.scrollable_content_region.width)
        start = 0
        for column, width in zip(COLUMNS, self._fitted, strict=True):
            start += width + GAP
            if x < start:
                return column.key
        return None

    # -- rendering ----------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        self._fit(width)
        if y == 0:
            labels = tuple(self._label(c.key, c.label) for c in COLUMNS)
            return self._strip(
                labels, width, self.get_component_rich_style("session-table--header")
            )
        index = round(self.scroll_y) + y - 1
        if index >= len(self._shown):
            return Strip.blank(width, self.rich_style)
        style = self.rich_style
        if index % 2:
            style += self.get_component_rich_style("session-table--odd")
        if index == self.cursor:
            style += self.get_component_rich_style("session-table--cursor")
        return self._strip(self.cells(self._shown[index]), width, style, styled_cause=True)

    def _strip(
        self, cells: tuple[str, ...], width: int, style: Style, *, styled_cause: bool = False
    ) -> Strip:
        text = Text(no_wrap=True, overflow="crop", style=style)
        for n, (cell, cell_width) in enumerate(zip(cells, self._fitted, strict=True)):
            shown = cell if len(cell) <= cell_width else cell[: cell_width - 1] + "…"
            cell_style = cause_style(cell) if styled_cause and n == CAUSE_COLUMN else ""
            text.append(" " + shown.ljust(cell_width) + " ", cell_style)
        segments: list[Segment] = list(text.render(self.app.console, end=""))
        return Strip(segments).crop(0, width).adjust_cell_length(width, style)

"""Filters by reason, cause, transport and namespace, and the `/` search box."""

from __future__ import annotations

from collections.abc import Sequence

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Select

from tui.view import FilterChoices, SessionFilter

FIELDS = ("reason", "cause", "transport", "namespace")


class FilterBar(Horizontal):
    """Posts `FilterBar.Changed` with the whole filter whenever any part of it changes."""

    class Changed(Message):
        def __init__(self, session_filter: SessionFilter) -> None:
            super().__init__()
            self.filter = session_filter

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._choices = FilterChoices()

    def compose(self) -> ComposeResult:
        for name in FIELDS:
            select: Select[str] = Select([], prompt=f"any {name}", id=f"filter-{name}")
            select.tooltip = f"show only sessions with this {name}"
            yield select
        yield Input(placeholder="/ search sid, client, reason, evidence…", id="search")

    def _select(self, name: str) -> Select[str]:
        return self.query_one(f"#filter-{name}", Select)

    @property
    def search(self) -> Input:
        return self.query_one("#search", Input)

    @property
    def value(self) -> SessionFilter:
        picked: dict[str, str | None] = {}
        for name in FIELDS:
            chosen = self._select(name).value
            picked[name] = chosen if isinstance(chosen, str) else None
        return SessionFilter(search=self.search.value, **picked)

    def set_choices(self, choices: FilterChoices) -> None:
        """Offer the values seen so far, keeping each current selection."""
        if choices == self._choices:
            return
        self._choices = choices
        values: dict[str, Sequence[str]] = {
            "reason": choices.reasons,
            "cause": choices.causes,
            "transport": choices.transports,
            "namespace": choices.namespaces,
        }
        for name, options in values.items():
            select = self._select(name)
            current = select.value
            with select.prevent(Select.Changed):
                select.set_options((option, option) for option in options)
                if isinstance(current, str) and current in options:
                    select.value = current

    def clear(self) -> None:
        for name in FIELDS:
            self._select(name).clear()
        self.search.value = ""

    @on(Select.Changed)
    @on(Input.Changed, "#search")
    def _changed(self, event: Message) -> None:
        event.stop()
        self.post_message(self.Changed(self.value))

"""`sioscope tui FILE`: the Textual app. Screens and widgets live in their own modules."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType
from textual.screen import Screen

from analyzer import Analysis
from tui.screens.dialogs import HelpScreen
from tui.screens.sessions import SessionsScreen


def key_help(screen: Screen[Any]) -> list[tuple[str, str]]:
    """Every binding active on a screen (its focused widget's included), keys grouped by action."""
    grouped: dict[str, list[str]] = {}
    bindings = sorted(
        screen.active_bindings.values(),
        key=lambda active: 0 if active.node is screen else 1 if active.node is screen.app else 2,
    )
    for active in bindings:
        binding = active.binding
        keys = grouped.setdefault(binding.description or binding.action, [])
        shown = screen.app.get_key_display(binding)
        if shown not in keys:
            keys.append(shown)
    return [(", ".join(keys), action) for action, keys in grouped.items()]


class SioscopeApp(App[None]):
    """Opens on the session table; the analysis runs behind it in a worker thread."""

    CSS_PATH = "sioscope.tcss"
    TITLE = "sioscope"
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Keys"),
    ]

    def __init__(self, path: str, load: Callable[..., Analysis]) -> None:
        super().__init__()
        self.path = path
        self._load = load
        self.exit_code = 0

    def on_mount(self) -> None:
        self.push_screen(SessionsScreen(self.path, self._load))

    @on(SessionsScreen.LoadFailed)
    def _remember_failure(self, event: SessionsScreen.LoadFailed) -> None:
        self.exit_code = event.exit_code

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(key_help(self.screen)))

    async def action_quit(self) -> None:
        self.exit(return_code=self.exit_code)


def run_tui(path: str, load: Callable[[str], Analysis]) -> int:
    """Run the app on one capture; returns the exit code (non-zero when the file was unusable)."""
    app = SioscopeApp(path, load)
    app.run()
    return app.return_code or 0

"""Small modal screens: key help, a message that ends the app, findings, and export."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, DataTable, Input, Label, Select, Static

from analyzer import REPORT_SUFFIXES, Analysis, Session, SioscopeError
from tui.export import (
    available_formats,
    default_filename,
    render_view,
    write_export,
)

# Modal screens hide the app's own bindings, so each one that has no text box repeats `q`.
QUIT = Binding("q", "app.quit", "Quit")


class HelpScreen(ModalScreen[None]):
    """Every key the screen underneath answers to, with what it does."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,question_mark", "close", "Close help"),
        QUIT,
    ]

    def __init__(self, keys: Iterable[tuple[str, str]]) -> None:
        super().__init__()
        self._keys = list(keys)

    def compose(self) -> ComposeResult:
        with Vertical(id="help-box", classes="dialog"):
            yield Label("Keys  (escape or ? closes)", classes="dialog-title")
            table: DataTable[str] = DataTable(id="help-keys", cursor_type="row")
            yield table

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_columns("key", "action")
        for key, description in self._keys:
            table.add_row(key, description)
        table.focus()

    def action_close(self) -> None:
        self.dismiss(None)


class MessageScreen(ModalScreen[None]):
    """A message the user must read: unusable input, an internal error."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,enter", "close", "Close"), QUIT]

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self._title = title
        self._message = message

    def compose(self) -> ComposeResult:
        with Vertical(id="message-box", classes="dialog"):
            yield Label(self._title, classes="dialog-title", id="message-title")
            yield Static(Text(self._message), id="message-text")
            yield Button("Close (q quits)", id="message-close", variant="error")

    @on(Button.Pressed, "#message-close")
    def action_close(self) -> None:
        self.dismiss(None)


def notes_text(analysis: Analysis) -> Text:
    """Findings and diagnostics: what is wrong at capture level and what was unreadable."""
    text = Text()
    info = analysis.info
    text.append(f"{info.path}\n", style="bold")
    text.append(f"{info.format.value}, {info.packets} packets, {info.bytes} bytes")
    text.append(", TRUNCATED\n" if info.truncated else "\n")
    if analysis.tls_connections:
        text.append(
            f"{analysis.tls_connections} TLS connections could not be read (no keys)\n",
            style="yellow",
        )
    text.append(f"\nFindings ({len(analysis.findings)})\n", style="bold underline")
    for finding in analysis.findings:
        text.append(f"{finding.kind}", style="bold red")
        text.append(f"  ×{finding.count}  {', '.join(finding.sessions[:8])}\n")
        for line in finding.evidence:
            text.append(f"    {line}\n")
    text.append(f"\nDiagnostics ({len(analysis.diagnostics)})\n", style="bold underline")
    for diag in analysis.diagnostics[:500]:
        text.append(f"{diag.severity.value:<8}", style="yellow")
        text.append(f"{diag.code}  {diag.where}: {diag.message}\n")
    if len(analysis.diagnostics) > 500:
        text.append(f"… and {len(analysis.diagnostics) - 500} more (see the report)\n")
    return text


class NotesScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape,d", "close", "Close"), QUIT]

    def __init__(self, analysis: Analysis) -> None:
        super().__init__()
        self._analysis = analysis

    def compose(self) -> ComposeResult:
        with Vertical(id="notes-box", classes="dialog"):
            yield Label("Capture findings and diagnostics", classes="dialog-title")
            with VerticalScroll(id="notes-scroll"):
                yield Static(notes_text(self._analysis), id="notes-text")

    def action_close(self) -> None:
        self.dismiss(None)


class ExportScreen(ModalScreen[tuple[str, str] | None]):
    """Asks for a format and a file name; dismisses with (format, path) or None."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, formats: list[str], default_path: str, what: str) -> None:
        super().__init__()
        self._formats = formats
        self._default_path = default_path
        self._what = what

    def compose(self) -> ComposeResult:
        with Vertical(id="export-box", classes="dialog"):
            yield Label(f"Export {self._what}", classes="dialog-title")
            yield Select(
                [(f, f) for f in self._formats],
                value=self._formats[0],
                allow_blank=False,
                id="export-format",
            )
            yield Input(self._default_path, id="export-path")
            yield Label("enter writes, escape cancels", classes="dialog-hint")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Select.Changed, "#export-format")
    def _format_changed(self, event: Select.Changed) -> None:
        """Keep the suffix in step with the format while the name is the suggested one."""
        path = self.query_one(Input)
        stem, dot, _ = path.value.rpartition(".")
        if dot and isinstance(event.value, str):
            path.value = f"{stem}.{REPORT_SUFFIXES[event.value]}"

    @on(Input.Submitted, "#export-path")
    def _submit(self, event: Input.Submitted) -> None:
        fmt = self.query_one(Select).value
        if event.value.strip() and isinstance(fmt, str):
            self.dismiss((fmt, event.value.strip()))

    def action_cancel(self) -> None:
        self.dismiss(None)


def start_export(
    screen: Screen[Any], analysis: Analysis | None, sessions: Sequence[Session], label: str
) -> None:
    """Ask where to write the current view, then write it; problems become notifications."""
    if analysis is None:
        screen.notify("The analysis is still running; export when it is done.", severity="warning")
        return
    formats = available_formats()
    what = f"{len(sessions)} session{'s' if len(sessions) != 1 else ''}"
    default = default_filename(analysis.info.path, formats[0], label)

    def write(choice: tuple[str, str] | None) -> None:
        if choice is None:
            return
        fmt, path = choice
        try:
            target = write_export(render_view(analysis, sessions, fmt), path)
        except SioscopeError as exc:
            screen.notify(exc.one_line(), title="Export failed", severity="error")
            return
        screen.notify(f"Wrote {what} as {fmt} to {target}", title="Exported")

    screen.app.push_screen(ExportScreen(formats, default, what), write)

"""Always-visible lines: counts by cause, and the analysis progress."""

from __future__ import annotations

from collections import Counter

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Label, ProgressBar, Static


def counts_text(counts: Counter[str], shown: int, total: int) -> Text:
    """`12 sessions (3 shown) · client-disconnect 7 · ping timeout ...`, most common first."""
    text = Text()
    text.append(f"{total} sessions", style="bold")
    if shown != total:
        text.append(f" ({shown} shown)")
    for cause, count in sorted(counts.items(), key=lambda item: (-item[1], item[0])):
        text.append("  ·  ")
        text.append(cause, style="bold")
        text.append(f" {count}")
    return text


class CauseCounts(Static):
    """Counts by cause over every session loaded, whatever the filters show."""

    def show_counts(self, counts: Counter[str], shown: int, total: int) -> None:
        self.update(counts_text(counts, shown, total))


class LoadProgress(Horizontal):
    """A label and a bar while the capture is read; hidden once it is done."""

    def compose(self) -> ComposeResult:
        yield Label("reading capture…", id="progress-label")
        yield ProgressBar(id="progress-bar", show_eta=False)

    def update_progress(self, done: int, total: int) -> None:
        bar = self.query_one(ProgressBar)
        if total > 0:
            bar.update(total=total, progress=min(done, total))
        mib = done / (1024 * 1024)
        self.query_one(Label).update(f"reading capture… {mib:.1f} MiB")

    def finish(self) -> None:
        self.display = False

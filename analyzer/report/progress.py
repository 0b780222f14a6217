"""A rich progress bar on stderr for long runs; silent in CI and when stderr is not a terminal.

Reports go to stdout or a file, so the bar never mixes with them. The callback shape is
the pipeline's `(bytes read so far, file size)`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

ProgressCallback = Callable[[int, int], None]


def progress_wanted(stream: TextIO, env: Mapping[str, str]) -> bool:
    """Only for a person watching: a terminal, and not a CI job (CI is set by every CI)."""
    if env.get("CI", "").strip().lower() not in ("", "0", "false", "no"):
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


class FileProgress:
    """One bar per capture file; `callback(path)` is what `analyze(progress=...)` takes."""

    def __init__(self, progress: Progress | None) -> None:
        self._progress = progress

    def callback(self, path: str) -> ProgressCallback | None:
        progress = self._progress
        if progress is None:
            return None
        task = progress.add_task(path, total=None)

        def update(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total or None)

        return update


@contextmanager
def file_progress(stream: TextIO, env: Mapping[str, str]) -> Iterator[FileProgress]:
    """A `FileProgress` that draws on `stream` when wanted and does nothing otherwise."""
    if not progress_wanted(stream, env):
        yield FileProgress(None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(file=stream), transient=True) as progress:
        yield FileProgress(progress)

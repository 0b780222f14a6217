"""Running the analysis off the event loop: callbacks, batching and cancellation.

The analysis runs in a worker thread. Sessions arrive one by one from the pipeline; handing
each to the UI separately would flood the event loop on a capture with many thousands of
sessions, so they travel in batches bounded by count and by time.
"""

from __future__ import annotations

import inspect
import time
from collections.abc import Callable
from typing import Protocol

from analyzer import Analysis, Session

ProgressCallback = Callable[[int, int], None]
SessionCallback = Callable[[Session], None]


class Load(Protocol):
    """What the CLI hands over: path in, Analysis out (it may accept streaming callbacks)."""

    def __call__(self, path: str, /) -> Analysis: ...


class AnalysisCancelled(Exception):
    """Raised from inside a callback to stop an analysis nobody waits for any more."""


def accepts_streaming(load: Callable[..., Analysis]) -> bool:
    """True when `load` takes the `progress=` and `on_session=` keywords of `analyze()`."""
    try:
        params = inspect.signature(load).parameters.values()
    except (TypeError, ValueError):
        return False
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return True
    names = {p.name for p in params}
    return {"progress", "on_session"} <= names


def call_load(
    load: Callable[..., Analysis],
    path: str,
    progress: ProgressCallback,
    on_session: SessionCallback,
) -> Analysis:
    """Call `load` with streaming callbacks when it has them; plain `load(path)` otherwise."""
    if accepts_streaming(load):
        return load(path, progress=progress, on_session=on_session)
    return load(path)


class Throttle:
    """Lets a call through at most once per interval (progress updates)."""

    def __init__(self, interval_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._interval = interval_s
        self._clock = clock
        self._last: float | None = None

    def ready(self) -> bool:
        now = self._clock()
        if self._last is None or now - self._last >= self._interval:
            self._last = now
            return True
        return False


class SessionBatcher:
    """Collects sessions and hands them on in batches, by size or after a short wait."""

    def __init__(
        self,
        deliver: Callable[[list[Session]], None],
        max_batch: int = 250,
        max_wait_s: float = 0.15,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._deliver = deliver
        self._max_batch = max_batch
        self._max_wait = max_wait_s
        self._clock = clock
        self._pending: list[Session] = []
        self._since: float = clock()

    def add(self, session: Session) -> None:
        if not self._pending:
            self._since = self._clock()
        self._pending.append(session)
        if len(self._pending) >= self._max_batch or self._clock() - self._since >= self._max_wait:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._deliver(batch)


class AnalysisRun:
    """The body of the analysis worker: wires the callbacks to the UI and checks for cancel."""

    def __init__(
        self,
        load: Callable[..., Analysis],
        path: str,
        *,
        post: Callable[..., object],
        on_progress: ProgressCallback,
        on_sessions: Callable[[list[Session]], None],
        cancelled: Callable[[], bool],
    ) -> None:
        self._load = load
        self._path = path
        self._post = post  # runs a callable on the UI thread (App.call_from_thread)
        self._on_progress = on_progress
        self._cancelled = cancelled
        self._throttle = Throttle(0.1)
        self._batcher = SessionBatcher(lambda batch: self._send(on_sessions, batch))

    def _send(self, target: Callable[..., object], *args: object) -> None:
        if self._cancelled():
            raise AnalysisCancelled
        try:
            self._post(target, *args)
        except RuntimeError as exc:  # the app stopped while we were working
            raise AnalysisCancelled from exc

    def progress(self, done: int, total: int) -> None:
        """Each progress update also delivers the sessions waiting for a full batch."""
        if self._throttle.ready() or (total and done >= total):
            self._batcher.flush()
            self._send(self._on_progress, done, total)
        elif self._cancelled():
            raise AnalysisCancelled

    def session(self, session: Session) -> None:
        self._batcher.add(session)

    def __call__(self) -> Analysis:
        analysis = call_load(self._load, self._path, self.progress, self.session)
        self._batcher.flush()
        return analysis

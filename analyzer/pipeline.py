"""The one place that chains the layers: file -> frames -> TCP -> flows -> sessions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from analyzer.capture.base import CaptureFormat, CaptureInfo, Frame
from analyzer.capture.har import read_har
from analyzer.capture.keylog import read_keylog
from analyzer.capture.pcap import FrameSource, open_frames
from analyzer.capture.sniff import sniff_file
from analyzer.classify import Observed, classify, observe
from analyzer.core import Diagnostic, relaxed_gc
from analyzer.flows import FlowDecoder
from analyzer.limits import Limits
from analyzer.model import Analysis, Finding, Session
from analyzer.net import tcp_events
from analyzer.net.events import TcpEvent
from analyzer.net.tcp import TcpReassembler
from analyzer.parallel import ShardedDecoder
from analyzer.sessions import Observation, SessionBuilder
from analyzer.sessions.spill import SpillFile
from analyzer.transport import TransportEvent

ProgressCallback = Callable[[int, int], None]  # (bytes read so far, file size)


def analyze(
    path: str,
    *,
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    on_session: Callable[[Session], None] | None = None,
    slow_path: bool | None = None,
    keylog: str | None = None,
) -> Analysis:
    """Read one capture and rebuild its sessions. Raises `InputError` on unusable input.

    `slow_path` selects the general frame-by-frame decoder instead of the mapped fast path
    (None: the `SIOSCOPE_SLOW_PATH` environment variable decides); both give one result.
    """
    with relaxed_gc():
        return _analyze(path, limits, progress, on_session, slow_path, keylog)


def _analyze(
    path: str,
    limits: Limits | None,
    progress: ProgressCallback | None,
    on_session: Callable[[Session], None] | None,
    slow_path: bool | None,
    keylog: str | None,
) -> Analysis:
    fmt = sniff_file(path)
    keys, key_diagnostics = read_keylog(keylog) if keylog else (None, [])  # TLS secrets
    limits = limits or Limits()
    builder = SessionBuilder(limits=limits, spill=SpillFile())
    # Each ended session with what it shows alone, read as it ends (the classifier's
    # costliest part, done while the rest of the capture is still being decoded).
    ended: list[tuple[Session, Observed]] = []
    observed = ObservationTally()

    def collect(done: Iterable[Session]) -> None:
        for session in done:
            ended.append((session, observe(session)))
            if on_session is not None:
                on_session(session)
        if builder.observations:  # tallied as they come: a lossy capture makes thousands
            observed.add(builder.observations)
            builder.observations.clear()

    if fmt is CaptureFormat.HAR:
        har = read_har(path, max_bytes=limits.har_bytes)
        _feed_all(builder, har.events, collect)
        info = har.info
        diagnostics = list(har.diagnostics)
        tls = 0
    else:
        source = open_frames(path)
        reassembler = TcpReassembler(
            max_buffer=limits.max_buffer_per_connection,
            max_connections=limits.max_open_connections,
        )
        flows = FlowDecoder(http_limits=limits.http(), ws_limits=limits.websocket(), keylog=keys)
        slow = _slow_path_wanted(slow_path)
        if not slow and keys is None and _parallel_wanted(source):
            events = ShardedDecoder(source, reassembler, flows, progress).events()
        else:
            events = _transport_events(
                _tcp_stream(source, reassembler, progress, slow),
                reassembler,
                flows,
                source.info_so_far,
            )
        _feed_all(builder, events, collect)
        info = source.info
        diagnostics = [*source.diagnostics, *reassembler.diagnostics, *flows.diagnostics]
        diagnostics.extend(key_diagnostics)
        tls = flows.tls_connections
    collect(builder.finish(info.last_ts_ns))
    diagnostics.extend(builder.diagnostics)
    ended.sort(key=lambda pair: (pair[0].opened_ns, pair[0].sid))
    sessions = [session for session, _ in ended]
    end_ns = info.last_ts_ns or max((s.last_seen_ns for s in sessions), default=0)
    judged, crowd_findings = classify(
        sessions,
        end_ns,
        har=fmt is CaptureFormat.HAR,
        page_loads=observed.page_loads,
        observed=[seen for _, seen in ended],
    )
    return Analysis(
        info=info,
        sessions=tuple(judged),
        findings=tuple(merge_findings(observed.findings() + crowd_findings)),
        diagnostics=tuple(diagnostics),
        tls_connections=tls,
    )


def _feed_all(
    builder: SessionBuilder,
    events: Iterable[TransportEvent],
    collect: Callable[[list[Session]], None],
) -> None:
    """Feed every event; `collect` runs only when sessions ended or observations came."""
    feed, observations = builder.feed, builder.observations  # cleared in place by collect
    for event in events:
        done = feed(event)
        if done or observations:
            collect(done)


def _transport_events(
    tcp: Iterator[TcpEvent],
    reassembler: TcpReassembler,
    flows: FlowDecoder,
    info_so_far: Callable[[], CaptureInfo],
) -> Iterator[TransportEvent]:
    for event in tcp:
        yield from flows.feed(event)
    for event in reassembler.finish(truncated=info_so_far().truncated):
        yield from flows.feed(event)
    yield from flows.finish()


SLOW_PATH_ENV = "SIOSCOPE_SLOW_PATH"


def _slow_path_wanted(choice: bool | None) -> bool:
    if choice is not None:
        return choice
    return os.environ.get(SLOW_PATH_ENV, "") not in ("", "0")


PARALLEL_ENV = "SIOSCOPE_PARALLEL"  # 1: always decode in worker processes, 0: never
PARALLEL_MIN_BYTES = 16 * 1024 * 1024  # below this the workers cost more than they save


def _parallel_wanted(source: FrameSource) -> bool:
    if source.format is not CaptureFormat.PCAP or (os.cpu_count() or 1) < 2:
        return False
    choice = os.environ.get(PARALLEL_ENV, "")
    if choice:
        return choice != "0"
    return source.size >= PARALLEL_MIN_BYTES


def _tcp_stream(
    source: FrameSource,
    reassembler: TcpReassembler,
    progress: ProgressCallback | None,
    slow: bool,
) -> Iterator[TcpEvent]:
    """TCP events of a packet capture: mapped fast path for pcap, frames otherwise."""
    if not slow:
        # Imported here: it loads numpy, which the main process of a run with workers
        # (and a HAR's) never needs.
        from analyzer.net.fast import fast_tcp_events

        with source.mapped(progress) as mapped:
            if mapped is not None:
                yield from fast_tcp_events(mapped, reassembler)
                if progress is not None:
                    progress(source.size, source.size)
                return
    yield from tcp_events(_with_progress(source, progress), reassembler)


def _with_progress(source: FrameSource, progress: ProgressCallback | None) -> Iterator[Frame]:
    if progress is None:
        yield from source
        return
    size = source.size
    for n, frame in enumerate(source):
        if n % 20_000 == 0:
            progress(source.offset, size)
        yield frame
    progress(size, size)


def merge_findings(findings: list[Finding]) -> list[Finding]:
    """One finding per kind: counts add up, sessions and evidence are joined in order."""
    merged: dict[str, Finding] = {}
    for f in findings:
        old = merged.get(f.kind)
        if old is None:
            merged[f.kind] = f
            continue
        sessions = tuple(dict.fromkeys(old.sessions + f.sessions))
        merged[f.kind] = Finding(f.kind, old.count + f.count, sessions, old.evidence + f.evidence)
    return [merged[k] for k in sorted(merged)]


def findings_from(observations: list[Observation]) -> list[Finding]:
    """Group capture-level observations by kind, naming the sessions they touch."""
    tally = ObservationTally()
    tally.add(observations)
    return tally.findings()


EVIDENCE_PER_FINDING = 5


class ObservationTally:
    """Capture-level observations, counted by kind as they come instead of kept one by one.

    Page loads are kept whole: the classifier matches them against sessions' ends."""

    def __init__(self) -> None:
        self.page_loads: list[Observation] = []
        self._counts: dict[str, int] = {}
        self._sids: dict[str, dict[str, None]] = {}  # by kind, in order of first mention
        self._texts: dict[str, list[str]] = {}  # the first few, by kind

    def add(self, observations: Iterable[Observation]) -> None:
        for obs in observations:
            if obs.kind == "page-load":
                self.page_loads.append(obs)
                continue
            self._counts[obs.kind] = self._counts.get(obs.kind, 0) + 1
            if obs.sid:
                self._sids.setdefault(obs.kind, {})[obs.sid] = None
            texts = self._texts.setdefault(obs.kind, [])
            if len(texts) < EVIDENCE_PER_FINDING:
                texts.append(obs.text)

    def findings(self) -> list[Finding]:
        findings = []
        for kind, count in sorted(self._counts.items()):
            evidence = tuple(self._texts[kind])
            if count > EVIDENCE_PER_FINDING:
                evidence += (f"... and {count - EVIDENCE_PER_FINDING} more",)
            findings.append(Finding(kind, count, tuple(self._sids.get(kind, ())), evidence))
        return findings


def file_size(path: str) -> int:
    return os.path.getsize(path)


__all__ = ["Diagnostic", "Limits", "ProgressCallback", "analyze", "findings_from"]

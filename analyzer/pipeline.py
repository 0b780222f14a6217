"""The one place that chains the layers: file -> frames -> TCP -> flows -> sessions."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator

from analyzer.capture.base import CaptureFormat, CaptureInfo, Frame
from analyzer.capture.har import read_har
from analyzer.capture.pcap import FrameSource, open_frames
from analyzer.capture.sniff import sniff_file
from analyzer.classify import classify
from analyzer.core import Diagnostic
from analyzer.flows import FlowDecoder
from analyzer.limits import Limits
from analyzer.model import Analysis, Finding, Session
from analyzer.net import tcp_events
from analyzer.net.events import TcpEvent
from analyzer.net.tcp import TcpReassembler
from analyzer.sessions import Observation, SessionBuilder
from analyzer.transport import TransportEvent

ProgressCallback = Callable[[int, int], None]  # (bytes read so far, file size)


def analyze(
    path: str,
    *,
    limits: Limits | None = None,
    progress: ProgressCallback | None = None,
    on_session: Callable[[Session], None] | None = None,
) -> Analysis:
    """Read one capture and rebuild its sessions. Raises `InputError` on unusable input."""
    fmt = sniff_file(path)
    builder = SessionBuilder()
    sessions: list[Session] = []

    def collect(done: Iterable[Session]) -> None:
        for session in done:
            sessions.append(session)
            if on_session is not None:
                on_session(session)

    if fmt is CaptureFormat.HAR:
        har = read_har(path)
        for event in har.events:
            collect(builder.feed(event))
        info = har.info
        diagnostics = list(har.diagnostics)
        tls = 0
    else:
        source = open_frames(path)
        reassembler = TcpReassembler(
            max_buffer=(limits or Limits()).max_buffer_per_connection,
            max_connections=(limits or Limits()).max_open_connections,
        )
        flows = FlowDecoder()
        for event in _transport_events(
            tcp_events(_with_progress(source, progress), reassembler),
            reassembler,
            flows,
            source.info_so_far,
        ):
            collect(builder.feed(event))
        info = source.info
        diagnostics = [*source.diagnostics, *reassembler.diagnostics, *flows.diagnostics]
        tls = flows.tls_connections
    collect(builder.finish(info.last_ts_ns))
    diagnostics.extend(builder.diagnostics)
    sessions.sort(key=lambda s: (s.opened_ns, s.sid))
    end_ns = info.last_ts_ns or max((s.last_seen_ns for s in sessions), default=0)
    page_loads = [o for o in builder.observations if o.kind == "page-load"]
    judged, crowd_findings = classify(
        sessions, end_ns, har=fmt is CaptureFormat.HAR, page_loads=page_loads
    )
    observations = [o for o in builder.observations if o.kind != "page-load"]
    return Analysis(
        info=info,
        sessions=tuple(judged),
        findings=tuple(findings_from(observations) + crowd_findings),
        diagnostics=tuple(diagnostics),
        tls_connections=tls,
    )


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


def findings_from(observations: list[Observation]) -> list[Finding]:
    """Group capture-level observations by kind, naming the sessions they touch."""
    by_kind: dict[str, list[Observation]] = {}
    for obs in observations:
        by_kind.setdefault(obs.kind, []).append(obs)
    findings = []
    for kind, items in sorted(by_kind.items()):
        sids = tuple(dict.fromkeys(o.sid for o in items if o.sid))
        evidence = tuple(o.text for o in items[:5])
        if len(items) > 5:
            evidence += (f"... and {len(items) - 5} more",)
        findings.append(Finding(kind, len(items), sids, evidence))
    return findings


def file_size(path: str) -> int:
    return os.path.getsize(path)


__all__ = ["Diagnostic", "Limits", "ProgressCallback", "analyze", "findings_from"]

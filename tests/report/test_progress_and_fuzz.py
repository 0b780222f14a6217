"""Progress only for people at a terminal; writers survive arbitrary model text."""

from __future__ import annotations

import dataclasses
import io
import xml.etree.ElementTree as ET

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from analyzer.model import Evidence, TimelineEvent
from analyzer.report.gates import Gates, evaluate
from analyzer.report.html import render_html
from analyzer.report.jsonreport import render_json
from analyzer.report.junit import render_junit
from analyzer.report.markdown import render_markdown
from analyzer.report.progress import file_progress, progress_wanted
from analyzer.report.redact import redact_analyses
from analyzer.report.tables import build_tables
from tests.report.fixtures import pcap_analysis


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_only_on_a_terminal_outside_ci() -> None:
    assert progress_wanted(Terminal(), {})
    assert progress_wanted(Terminal(), {"CI": "false"})
    assert not progress_wanted(Terminal(), {"CI": "true"})
    assert not progress_wanted(io.StringIO(), {})


def test_progress_bar_draws_on_the_given_stream_only() -> None:
    stream = Terminal()
    with file_progress(stream, {}) as bars:
        callback = bars.callback("big.pcap")
        assert callback is not None
        callback(50, 100)
    with file_progress(io.StringIO(), {}) as quiet:
        assert quiet.callback("big.pcap") is None


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    reason=st.none() | st.text(max_size=30),
    cause=st.none() | st.text(max_size=20),
    words=st.lists(st.text(max_size=40), max_size=4),
    redact=st.booleans(),
)
def test_writers_accept_any_text(
    reason: str | None, cause: str | None, words: list[str], redact: bool
) -> None:
    base = pcap_analysis()
    first = base.sessions[0]
    verdict = dataclasses.replace(
        first.verdict,
        server_reason=reason,
        cause=cause,
        evidence=tuple(Evidence(w) for w in words),
    )
    timeline = (
        *first.timeline,
        *(
            TimelineEvent(first.opened_ns, None, first.timeline[0].layer, w or "x", w)
            for w in words
        ),
    )
    session = dataclasses.replace(first, verdict=verdict, timeline=timeline)
    analyses = [dataclasses.replace(base, sessions=(session, *base.sessions[1:]))]
    if redact:
        analyses = redact_analyses(analyses)
    tables = build_tables(analyses)
    result = evaluate(tables, Gates(tuple(t for t in (reason, cause) if t and "," not in t)))
    assert render_markdown(tables, result)
    assert render_html(tables, result)
    assert render_json(analyses)
    ET.fromstring(render_junit(tables, result).split("\n", 1)[1])

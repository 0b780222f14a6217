"""The HTML report is one self-contained file with timelines, histograms and filters."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET

import pytest

from analyzer.model import Analysis, Evidence
from analyzer.report import html as html_report
from analyzer.report.gates import Gates, evaluate
from analyzer.report.html import render_html
from analyzer.report.svg import IDLE_EDGES, bin_counts, histogram
from analyzer.report.tables import build_tables
from tests.report.fixtures import har_analysis, many_sessions, pcap_analysis


def page(*analyses: Analysis, fail_on: tuple[str, ...] = ()) -> str:
    tables = build_tables(analyses or (pcap_analysis(), har_analysis()))
    return render_html(tables, evaluate(tables, Gates(fail_on)))


def svgs(text: str) -> list[str]:
    return re.findall(r"<svg\b.*?</svg>", text, flags=re.S)


def test_fetches_nothing() -> None:
    text = page()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text)
    assert "@import" not in text and "url(" not in text
    assert "default-src 'none'" in text  # the browser refuses any fetch the page might try


def test_every_svg_is_well_formed_xml() -> None:
    for picture in svgs(page()):
        ET.fromstring(picture.replace("&nbsp;", " "))


def test_a_timeline_per_session_and_two_histograms() -> None:
    text = page()
    assert text.count('class="timeline"') >= 5  # every session in the table, plus the worst
    assert text.count('class="hist"') == 2
    assert text.count('class="row') == 5
    assert "idle 20.0 s" in text


def test_filters_carry_every_cause_and_reason() -> None:
    text = page(fail_on=("ping timeout",))
    for value in ("network-loss", "proxy-timeout", "io client disconnect", "ping timeout"):
        assert f'<option value="{value}">' in text
    assert 'id="f-fail"' in text
    assert 'data-fail="1"' in text


def test_timelines_are_bounded_on_big_captures(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(html_report, "MAX_TIMELINES", 10)
    text = page(many_sessions(30))
    assert text.count("Timeline not drawn") == 20


def test_idle_histogram_puts_a_proxy_timeout_in_one_bar() -> None:
    counts = bin_counts([60.0, 60.2, 61.0, 1.0], IDLE_EDGES)
    assert counts[IDLE_EDGES.index(60)] == 3
    assert counts[IDLE_EDGES.index(1)] == 1
    assert "no data" in histogram([], IDLE_EDGES, "t", "no data")


def test_values_are_escaped() -> None:
    analysis = pcap_analysis()
    evil = Evidence("<script>alert(1)</script>")
    session = analysis.sessions[0]
    session = dataclasses.replace(
        session, verdict=dataclasses.replace(session.verdict, evidence=(evil,))
    )
    text = page(dataclasses.replace(analysis, sessions=(session,)))
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)" in text

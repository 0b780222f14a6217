"""JUnit XML validates against the common Jenkins/Ant schema and says why a session failed."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analyzer.report.gates import Gates, ShareLimit, evaluate
from analyzer.report.junit import render_junit
from analyzer.report.tables import build_tables
from tests.report.fixtures import har_analysis, many_sessions, pcap_analysis

xmlschema = pytest.importorskip("xmlschema")
SCHEMA = Path(__file__).parent / "junit.xsd"


def junit(fail_on: tuple[str, ...] = (), shares: tuple[ShareLimit, ...] = ()) -> str:
    tables = build_tables([pcap_analysis(), har_analysis()])
    return render_junit(tables, evaluate(tables, Gates(fail_on, shares)))


@pytest.mark.parametrize(
    "gates",
    [((), ()), (("ping timeout", "proxy-timeout"), (ShareLimit("network-loss", 0.1),))],
)
def test_validates_against_the_junit_schema(
    gates: tuple[tuple[str, ...], tuple[ShareLimit, ...]],
) -> None:
    xmlschema.XMLSchema(str(SCHEMA)).validate(junit(*gates))


def test_a_busy_capture_validates_too() -> None:
    tables = build_tables([many_sessions(80)])
    text = render_junit(tables, evaluate(tables, Gates(("server-crash",))))
    xmlschema.XMLSchema(str(SCHEMA)).validate(text)


def test_the_schema_rejects_what_ci_tools_reject() -> None:
    schema = xmlschema.XMLSchema(str(SCHEMA))
    assert not schema.is_valid(
        '<testsuites><testsuite tests="1"><testcase name="x"/></testsuite></testsuites>'
    )  # a suite without a name
    assert not schema.is_valid('<testsuites><testsuite name="s" tests="-1"/></testsuites>')


def test_suite_per_capture_case_per_session_and_failures() -> None:
    root = ET.fromstring(junit(("ping timeout", "io server disconnect")))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites] == ["captures/mixed.pcap", "captures/browser.har"]
    assert [len(s.findall("testcase")) for s in suites] == [4, 1]
    failed = [c.get("name") for c in root.iter("testcase") if c.find("failure") is not None]
    assert failed == ["session Pp0Ll_ing2", "session Hh1_har0001"]
    assert root.get("failures") == "2" and root.get("tests") == "5"
    failure = next(root.iter("failure"))
    assert failure.get("type") == "ping timeout"
    assert "no pong within pingTimeout" in (failure.text or "")


def test_max_share_checks_become_a_gates_suite() -> None:
    root = ET.fromstring(junit(shares=(ShareLimit("network-loss", 0.1), ShareLimit("x", 0.5))))
    gates = root.findall("testsuite")[-1]
    assert gates.get("name") == "sioscope gates"
    assert gates.get("tests") == "2" and gates.get("failures") == "1"


def test_control_characters_from_packets_are_dropped() -> None:
    tables = build_tables([pcap_analysis()])
    tables.sessions.loc[0, "evidence"] = "bad\x00byte\x1b"
    text = render_junit(tables, evaluate(tables, Gates(("client-disconnect",))))
    assert "badbyte" in text
    ET.fromstring(text)

"""JUnit XML (the common Jenkins/Ant shape): a testsuite per capture, a testcase per session.

A session fails when it matches `--fail-on`; its evidence becomes the failure text, so a CI
test view shows why the socket disconnected. `--max-share` checks become testcases of an
extra "sioscope gates" suite so every tripped gate is visible in the same view.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from analyzer.report import cells
from analyzer.report.gates import GateResult, ShareCheck
from analyzer.report.tables import ReportTables

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_NAME = re.compile(r"[^A-Za-z0-9_]+")


def clean(value: object) -> str:
    """Text that XML 1.0 can carry: control characters from packet data are dropped."""
    return _NOT_XML.sub("", cells.text(value))


def render_junit(tables: ReportTables, result: GateResult) -> str:
    root = ET.Element("testsuites", {"name": "sioscope"})
    suites = [_capture_suite(tables, capture, result) for capture in tables.captures["capture"]]
    if result.shares:
        suites.append(_gates_suite(result.shares))
    root.extend(suites)
    for key in ("tests", "failures", "errors", "skipped"):
        root.set(key, str(sum(int(s.get(key, "0")) for s in suites)))
    root.set("time", _seconds(sum(float(s.get("time", "0")) for s in suites)))
    ET.indent(root)
    body = ET.tostring(root, encoding="unicode")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + body + "\n"


def _capture_suite(tables: ReportTables, capture: str, result: GateResult) -> ET.Element:
    info = tables.captures.loc[tables.captures["capture"] == capture].iloc[0]
    sessions = tables.sessions.loc[tables.sessions["capture"] == capture]
    sockets = tables.sockets.loc[tables.sockets["capture"] == capture]
    span = (cells.real(info["last_ts"]) or 0.0) - (cells.real(info["first_ts"]) or 0.0)
    suite = ET.Element("testsuite", {"name": clean(capture)})
    properties = ET.SubElement(suite, "properties")
    for name in ("format", "packets", "bytes", "truncated", "tls_connections"):
        ET.SubElement(properties, "property", {"name": name, "value": clean(info[name])})
    if result.gates.fail_on:
        value = ",".join(result.gates.fail_on)
        ET.SubElement(properties, "property", {"name": "fail-on", "value": clean(value)})
    failures = 0
    for session in cells.records(sessions):
        failing = result.is_failing(capture, session["sid"])
        failures += failing
        own = cells.records(sockets.loc[sockets["sid"] == session["sid"]])
        suite.append(_testcase(_classname(capture), session, own, result, failing))
    suite.set("tests", str(len(sessions)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suite.set("skipped", "0")
    suite.set("time", _seconds(span))
    stamp = cells.utc(info["first_ts"])
    if stamp:
        suite.set("timestamp", stamp)
    return suite


def _classname(capture: str) -> str:
    stem = capture.replace("\\", "/").rsplit("/", 1)[-1]
    return "sioscope." + (_NOT_NAME.sub("_", stem).strip("_") or "capture")


def _testcase(
    classname: str, s: cells.Row, sockets: list[cells.Row], result: GateResult, failing: bool
) -> ET.Element:
    case = ET.Element(
        "testcase",
        {
            "name": clean(f"session {s['sid']}"),
            "classname": classname,
            "time": _seconds(cells.real(s["duration_s"]) or 0.0),
        },
    )
    evidence = cells.lines(s["evidence"])
    if failing:
        failure = ET.SubElement(
            case,
            "failure",
            {"message": clean(_verdict_line(s)), "type": _matched(s, sockets, result)},
        )
        failure.text = clean("\n".join(evidence) or "no evidence recorded")
    out = ET.SubElement(case, "system-out")
    out.text = clean("\n".join(_description(s, sockets, evidence)))
    return case


def _verdict_line(s: cells.Row) -> str:
    first = cells.lines(s["evidence"])[:1]
    return (
        f"cause {cells.text(s['cause'])}: server reason {cells.text(s['server_reason'])}, "
        f"client reason {cells.text(s['client_reason'])}" + (f" — {first[0]}" if first else "")
    )


def _matched(s: cells.Row, sockets: list[cells.Row], result: GateResult) -> str:
    values = [s[c] for c in ("server_reason", "client_reason", "cause")]
    values += [sock[c] for sock in sockets for c in ("server_reason", "client_reason", "cause")]
    hits = [t for t in result.gates.fail_on if t in values]
    return clean(",".join(hits))


def _description(s: cells.Row, sockets: list[cells.Row], evidence: list[str]) -> list[str]:
    lines = [
        f"client {cells.text(s['client'])} -> server {cells.text(s['server'])}, "
        f"EIO {cells.text(s['eio'])}, transports {cells.text(s['transports'])}",
        f"lasted {cells.duration(s['duration_s'])}"
        + (", open at capture end" if s["open_at_end"] else ""),
        _verdict_line(s) + f" (confidence {cells.real(s['confidence']) or 0:.2f})",
        *(f"evidence: {line}" for line in evidence),
    ]
    for sock in sockets:
        lines.append(
            f"socket {cells.text(sock['nsp'])} {cells.text(sock['id'])}: "
            f"server reason {cells.text(sock['server_reason'])}, "
            f"client reason {cells.text(sock['client_reason'])}, cause {cells.text(sock['cause'])}"
            + (f", connect error {sock['connect_error']}" if sock["connect_error"] else "")
        )
    return lines


def _gates_suite(checks: tuple[ShareCheck, ...]) -> ET.Element:
    tripped = sum(1 for c in checks if c.tripped)
    suite = ET.Element(
        "testsuite",
        {
            "name": "sioscope gates",
            "tests": str(len(checks)),
            "failures": str(tripped),
            "errors": "0",
            "skipped": "0",
            "time": _seconds(0.0),
        },
    )
    for check in checks:
        case = ET.SubElement(
            suite,
            "testcase",
            {
                "name": clean(f"max-share {check.cause}"),
                "classname": "sioscope.gates",
                "time": _seconds(0.0),
            },
        )
        if check.tripped:
            ET.SubElement(
                case, "failure", {"message": clean(check.describe()), "type": "max-share"}
            )
        else:
            ET.SubElement(case, "system-out").text = clean(check.describe())
    return suite


def _seconds(value: float) -> str:
    return f"{value:.3f}"

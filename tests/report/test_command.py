"""`sioscope report` end to end through `command.run` with a fake loader: outputs and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer.errors import InputError, SioscopeError, UsageError
from analyzer.model import Analysis
from analyzer.report.command import EXIT_GATE, EXIT_OK, FORMATS, run
from analyzer.report.progress import ProgressCallback
from tests.report.helpers import check_golden, fake_load, parse

BOTH = ("captures/mixed.pcap", "captures/browser.har")
GOLDEN_NAMES = {
    "json": "report.json",
    "md": "report.md",
    "junit": "report.xml",
    "html": "report.html",
    "csv": "sessions.csv",
}


def report_text(tmp_path: Path, fmt: str, *extra: str) -> tuple[int, str]:
    out = tmp_path / f"out.{'csv' if fmt == 'csv' else 'txt'}"
    code = run(parse(*BOTH, "--format", fmt, "-o", str(out), *extra), fake_load)
    return code, out.read_bytes().decode("utf-8")


@pytest.mark.parametrize("fmt", FORMATS)
def test_golden_per_format(tmp_path: Path, fmt: str) -> None:
    code, text = report_text(
        tmp_path, fmt, "--fail-on", "ping timeout", "--max-share", "proxy-timeout=0.5"
    )
    assert code == EXIT_GATE
    check_golden(GOLDEN_NAMES[fmt], text)


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_input_gives_identical_bytes(tmp_path: Path, fmt: str) -> None:
    first = report_text(tmp_path, fmt, "--redact")
    second = report_text(tmp_path, fmt, "--redact")
    assert first == second


def test_redacted_golden(tmp_path: Path) -> None:
    _, text = report_text(tmp_path, "md", "--redact")
    check_golden("redacted.md", text)


def test_no_gates_exit_zero(tmp_path: Path) -> None:
    assert report_text(tmp_path, "json")[0] == EXIT_OK


@pytest.mark.parametrize(
    ("gate", "expected"),
    [
        (["--fail-on", "ping timeout"], EXIT_GATE),  # engine.io server reason
        (["--fail-on", "io client disconnect"], EXIT_GATE),  # socket-level client reason only
        (["--fail-on", "proxy-timeout,server-crash"], EXIT_GATE),  # cause, in a list
        (["--fail-on", "server-crash"], EXIT_OK),
        (["--fail-on", "parse error", "--fail-on", "forced server close"], EXIT_OK),
        (["--max-share", "network-loss=0.2"], EXIT_OK),  # 1 of 5 sessions is exactly 20 %
        (["--max-share", "network-loss=0.19"], EXIT_GATE),
        (["--max-share", "network-loss=19%"], EXIT_GATE),
        (["--max-share", "server-crash=0"], EXIT_OK),
        (["--max-share", "capture-ended=0.5,client-disconnect=0.1"], EXIT_GATE),
    ],
)
def test_gate_exit_codes(tmp_path: Path, gate: list[str], expected: int) -> None:
    assert report_text(tmp_path, "md", *gate)[0] == expected


@pytest.mark.parametrize(
    "gate",
    [
        ["--max-share", "proxy-timeout"],
        ["--max-share", "proxy-timeout=abc"],
        ["--max-share", "proxy-timeout=1.5"],
        ["--max-share", "=0.1"],
        ["--fail-on", "a,,b"],
    ],
)
def test_bad_gate_is_a_usage_error(tmp_path: Path, gate: list[str]) -> None:
    with pytest.raises(UsageError) as info:
        report_text(tmp_path, "json", *gate)
    assert info.value.exit_code == 2


def test_unusable_input_raises_input_error(tmp_path: Path) -> None:
    with pytest.raises(InputError) as info:
        run(parse("nope.pcap", "-o", str(tmp_path / "x.json")), fake_load)
    assert info.value.exit_code >= 2


def test_gate_still_writes_report_and_says_why(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, text = report_text(tmp_path, "json", "--fail-on", "ping timeout")
    assert code == EXIT_GATE
    gates = json.loads(text)["gates"]
    assert gates["tripped"] is True
    assert gates["failing_sessions"] == [{"capture": "captures/mixed.pcap", "sid": "Pp0Ll_ing2"}]
    assert "gate tripped" in capsys.readouterr().err


def test_unknown_fail_on_term_warns(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert report_text(tmp_path, "md", "--fail-on", "ping-timeout")[0] == EXIT_OK
    assert "'ping-timeout' is no known reason or cause" in capsys.readouterr().err


def test_stdout_when_no_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(parse("captures/mixed.pcap", "--format", "csv"), fake_load) == EXIT_OK
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [r["sid"] for r in rows] == ["Ab3dE_fGh1", "Pp0Ll_ing2", "Wx5_proxy3", "Oo4_open04"]
    assert rows[0]["evidence"].count("\n") == 2  # three evidence lines stay one cell


def test_csv_directory_gets_one_file_per_table(tmp_path: Path) -> None:
    target = tmp_path / "tables"
    assert run(parse(*BOTH, "--format", "csv", "-o", str(target)), fake_load) == EXIT_OK
    names = sorted(p.name for p in target.iterdir())
    assert names == [
        "captures.csv",
        "diagnostics.csv",
        "events.csv",
        "findings.csv",
        "sessions.csv",
        "sockets.csv",
    ]
    check_golden("events.csv", (target / "events.csv").read_bytes().decode())


def test_output_into_a_directory_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(SioscopeError):
        run(parse(*BOTH, "--format", "md", "-o", str(tmp_path)), fake_load)


def test_progress_loader_unused_when_not_a_terminal(tmp_path: Path) -> None:
    calls: list[str] = []

    def with_progress(path: str, progress: ProgressCallback | None) -> Analysis:
        calls.append(path)
        return fake_load(path)

    args = parse(*BOTH, "-o", str(tmp_path / "r.json"))
    assert run(args, fake_load, load_with_progress=with_progress) == EXIT_OK
    assert calls == []  # pytest's stderr is no terminal


def test_json_without_gates_is_written_without_the_tables(tmp_path: Path) -> None:
    """The shortcut that skips pandas writes what the table-backed path writes."""
    from analyzer.report import render_report

    code, text = report_text(tmp_path, "json")
    assert code == EXIT_OK
    assert text == render_report([fake_load(p) for p in BOTH], "json")


def test_json_without_gates_does_not_load_pandas() -> None:
    script = (
        "import sys; from analyzer.cli import main; "
        "main(['report', 'captures/namespaces.pcap', '--format', 'json', '-o', '/dev/null']); "
        "print('pandas' in sys.modules)"
    )
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=root, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "False"

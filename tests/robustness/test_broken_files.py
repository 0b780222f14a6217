"""The CLI over every broken and hostile sample: the exit code the issue promises, one line
on stderr for unusable input (naming file and place), never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analyzer import cli
from tests.robustness.broken.make_broken import EXPECTED, HERE, write_all

CASES: dict[str, dict[str, object]] = json.loads((HERE / EXPECTED).read_text())


def test_samples_are_what_the_script_writes(tmp_path: Path) -> None:
    """The committed samples are current and the script is deterministic."""
    for name in write_all(tmp_path):
        assert (tmp_path / name).read_bytes() == (HERE / name).read_bytes(), name


@pytest.mark.parametrize("name", sorted(CASES))
def test_cli_report_on_broken_file(
    name: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    case = CASES[name]
    args = [str(a) for a in case["args"]]  # type: ignore[attr-defined]
    monkeypatch.chdir(HERE)
    code = cli.main(["report", name, "--format", "json", *args])
    out, err = capsys.readouterr()
    assert "Traceback" not in err
    assert code == case["exit"], err
    mention = str(case["mention"])
    if code == cli.EXIT_INPUT:
        assert err.count("\n") == 1 and err.startswith(f"sioscope: {name}: "), err
        assert mention in err
        assert out == ""
        return
    assert err == ""
    diagnostics = json.loads(out)["diagnostics"]
    seen = " ".join(f"{d['code']} {d['where']} {d['message']}" for d in diagnostics)
    assert mention in seen


@pytest.mark.parametrize("command", ["analyze", "timeline", "explain", "tui"])
def test_every_command_gives_one_line_for_unusable_input(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    path = str(HERE / "wrong-magic.png")
    argv = [command, path] + (["--sid", "x"] if command in ("timeline", "explain") else [])
    assert cli.main(argv) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "byte 0" in err and "wrong-magic.png" in err


def _explode(*args: object, **kwargs: object) -> None:
    raise RuntimeError("boom\nsecond line")


@pytest.mark.parametrize("debug_first", [True, False])
def test_internal_error_is_one_line_and_debug_shows_the_traceback(
    debug_first: bool, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cli, "analyze", _explode)
    path = str(HERE / "cut-late.pcap")
    assert cli.main(["report", path]) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err and "RuntimeError: boom" in err
    argv = ["--debug", "report", path] if debug_first else ["report", path, "--debug"]
    assert cli.main(argv) == cli.EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "_explode" in err


def test_limit_flags_reach_the_layers(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(HERE / "ws-deflate-bomb.pcap")
    assert cli.main(["report", path]) == cli.EXIT_OK  # 4 MiB inflates under the default
    codes = {d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]}
    assert "ws-inflate-limit" not in codes
    assert cli.main(["report", path, "--limit-ws-inflate-bytes", "64k"]) == cli.EXIT_OK
    codes = {d["code"] for d in json.loads(capsys.readouterr().out)["diagnostics"]}
    assert "ws-inflate-limit" in codes


def test_har_size_limit(capsys: pytest.CaptureFixture[str]) -> None:
    path = str(HERE / "entries-wrong-shape.har")
    assert cli.main(["report", path, "--limit-har-bytes", "100"]) == cli.EXIT_INPUT
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "exceeds 100" in err


@pytest.mark.parametrize("value", ["0", "-5", "lots", "12q"])
def test_bad_limit_values_are_usage_errors(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["report", str(HERE / "cut-late.pcap"), "--limit-json-depth", value]
    with pytest.raises(SystemExit) as exc:
        code = cli.main(argv)
        raise SystemExit(code)
    assert exc.value.code == cli.EXIT_INPUT
    assert "Traceback" not in capsys.readouterr().err


def test_console_script_exit_codes_in_a_real_process() -> None:
    """One real process per tier: argparse, SystemExit and stderr wiring as users see it."""
    run = [sys.executable, "-m", "analyzer.cli"]
    bad = subprocess.run([*run, "report", str(HERE / "text.txt")], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "byte 0" in bad.stderr
    ok = subprocess.run([*run, "report", str(HERE / "cut-late.pcap")], capture_output=True)
    assert ok.returncode == 0 and ok.stderr == b""


def test_reader_closing_the_pipe_is_not_an_internal_error() -> None:
    path = str(Path(__file__).resolve().parents[2] / "captures" / "many-clients.pcap")
    cmd = [sys.executable, "-m", "analyzer.cli", "report", path, "--format", "md"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # like `| head` exiting before the report is written
    err = proc.stderr.read().decode()
    assert proc.wait() == cli.EXIT_BROKEN_PIPE and "internal error" not in err, err

"""Layering rules that keep the core headless and the layers honest."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_analyzer_never_loads_textual() -> None:
    code = (
        "import sys, analyzer, analyzer.pipeline, analyzer.cli, analyzer.report.jsonreport\n"
        "bad = [m for m in sys.modules if m == 'textual' or m.startswith('textual.')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


FILE_CALLS = {
    "open", "read_bytes", "read_text", "write_bytes", "write_text", "mmap",
    "TemporaryFile", "NamedTemporaryFile", "pread", "pwrite",
}  # fmt: skip


def _file_calls(path: Path) -> list[str]:
    """Calls that touch the file system: open(...), Path(...).read_text(), mmap.mmap(...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        if isinstance(func, ast.Name) and func.id == "open":
            found.append(f"{path.name}:{node.lineno} open()")
        elif isinstance(func, ast.Attribute) and func.attr in FILE_CALLS - {"open"}:
            found.append(f"{path.name}:{node.lineno} .{func.attr}()")
    return found


def test_only_capture_readers_open_files() -> None:
    """Decoders are sans-I/O: only readers, the CLI and the report writers touch files.

    One more: the spill file the pipeline hands the session builder (which runs without
    one as well) for the timelines that would otherwise grow with the capture."""
    allowed = {"capture", "report", "cli.py"}
    storage = {Path("sessions/spill.py")}
    offenders = []
    for path in (ROOT / "analyzer").rglob("*.py"):
        relative = path.relative_to(ROOT / "analyzer")
        if relative.parts[0] not in allowed and relative not in storage:
            offenders += _file_calls(path)
    assert offenders == []
    assert all(_file_calls(ROOT / "analyzer" / p) for p in storage)  # the exception is used


def test_analyzer_does_not_import_the_lab_or_tui() -> None:
    """Only the CLI may start the TUI (lazily, inside the `tui` command)."""
    for path in (ROOT / "analyzer").rglob("*.py"):
        banned = ("captures.lab", "textual")
        if path.name != "cli.py":
            banned += ("tui",)
        for name in _imports(path):
            assert not name.startswith(banned), (path, name)


def test_tui_uses_only_the_public_api() -> None:
    """The TUI imports `analyzer` itself, never its modules (design §1)."""
    for path in (ROOT / "tui").rglob("*.py"):
        for name in _imports(path):
            assert not name.startswith("analyzer."), (path, name)

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


def test_only_capture_readers_open_files() -> None:
    """Decoders are sans-I/O: `open(` appears only in readers, the CLI and reports."""
    allowed = {"capture", "report", "cli.py", "pipeline.py"}
    offenders = []
    for path in (ROOT / "analyzer").rglob("*.py"):
        rel = path.relative_to(ROOT / "analyzer")
        if rel.parts[0] in allowed:
            continue
        if "open(" in path.read_text(encoding="utf-8").replace("_open(", "").replace(".open(", ""):
            offenders.append(str(rel))
    assert offenders == []


def test_analyzer_does_not_import_the_lab_or_tui() -> None:
    """Only the CLI may start the TUI (lazily, inside the `tui` command)."""
    for path in (ROOT / "analyzer").rglob("*.py"):
        banned = ("captures.lab", "textual")
        if path.name != "cli.py":
            banned += ("tui",)
        for name in _imports(path):
            assert not name.startswith(banned), (path, name)

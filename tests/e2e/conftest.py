"""The committed real captures and their truth files, as pytest parameters."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from analyzer import Analysis, analyze

CAPTURES = Path(__file__).resolve().parents[2] / "captures"


def truth_files() -> list[Path]:
    return sorted(CAPTURES.glob("*.truth.json"))


def load_truth(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


@cache
def analysis_of(capture_name: str, keylog: str | None = None) -> Analysis:
    return analyze(str(CAPTURES / capture_name), keylog=str(CAPTURES / keylog) if keylog else None)


def analysis_for(truth: dict[str, Any], *, har: bool = False) -> Analysis:
    """The analysis of a truth's capture (or its HAR), with its TLS key log if it has one."""
    capture = truth["capture"]
    if har:
        return analysis_of(str(capture["har"]))
    keylog = capture.get("tls_keylog")
    return analysis_of(
        str(capture["file"]).rsplit("/", 1)[-1], keylog.rsplit("/", 1)[-1] if keylog else None
    )


def _parametrize(metafunc: pytest.Metafunc, name: str, keep: str | None) -> None:
    """Parametrize `name` over the truth files (only those whose capture has `keep`)."""
    pairs = [(p, load_truth(p)) for p in truth_files()]
    if keep is not None:
        pairs = [(p, t) for p, t in pairs if t["capture"].get(keep)]
    ids = [p.name.removesuffix(".truth.json") for p, _ in pairs]
    metafunc.parametrize(name, [t for _, t in pairs], ids=ids)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    for name, keep in (("truth", None), ("har_truth", "har"), ("tls_truth", "tls_keylog")):
        if name in metafunc.fixturenames:
            _parametrize(metafunc, name, keep)
